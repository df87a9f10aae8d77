"""mmcv's CUDA ops routed to torchvision (mgd.compat.cuda_ops), checked on the CPU.

``route_cpu()`` sends CPU tensors through the routed path (torchvision's CPU kernels of the
same ops, and the torch focal loss), which is compared with mmcv's own compiled CPU kernels
through mmcv's public functions, so mmcv's argument conventions are exercised as in training.
Each comparison also asserts that the routed path really ran (``cuda_ops.CALLS``).
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from mmcv import ops

from mgd.compat import cuda_ops
from mgd.compat.cuda_kernels import FLT_MIN

REPO = Path(__file__).resolve().parents[2]


def routed_calls() -> int:
    return sum(n for (path, _), n in cuda_ops.CALLS.items() if path == 'torchvision')


def run_both(fn):
    """``fn()`` on mmcv's CPU kernels, then on the routed path; asserts which path ran."""
    before = routed_calls()
    native = fn()
    assert routed_calls() == before, 'the unrouted run took the routed path'
    with cuda_ops.route_cpu():
        routed = fn()
    assert routed_calls() > before, 'the routed run did not reach mgd.compat.cuda_kernels'
    return native, routed


def assert_close(native, routed, **tol):
    if isinstance(native, dict):
        assert native.keys() == routed.keys()
        for key in native:
            torch.testing.assert_close(routed[key], native[key], msg=key, **tol)
    else:
        torch.testing.assert_close(routed, native, **tol)


def test_installed_here():
    assert ops.get_compiling_cuda_version() == 'not available'  # this machine's mmcv build
    assert cuda_ops.active_path() == 'torchvision'
    assert sys.modules['mmcv.ops.nms'].ext_module is cuda_ops.routed_extension()


# --- NMS ------------------------------------------------------------------------------------


def random_boxes(n: int, seed: int = 0, size: float = 100.0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=generator) * size
    wh = torch.rand(n, 2, generator=generator) * size / 4 + 0.5
    scores = torch.randperm(n, generator=generator).float() / n  # distinct: no ties to order
    return torch.cat([xy, xy + wh], dim=1), scores


@pytest.mark.parametrize('offset', [0, 1])
def test_nms(offset):
    boxes, scores = random_boxes(500)
    boxes = boxes.round()  # integer corners: offset=1 makes a real difference on them
    for iou in (0.3, 0.5, 0.7):
        native, routed = run_both(lambda iou=iou: ops.nms(boxes, scores, iou, offset=offset))
        assert torch.equal(routed[1], native[1]) and torch.equal(routed[0], native[0])
        assert 0 < len(native[1]) < len(boxes)
    if offset:  # offset matters here: otherwise this test would not tell them apart
        assert not torch.equal(ops.nms(boxes, scores, 0.3)[1], ops.nms(boxes, scores, 0.3, 1)[1])


def test_nms_of_nothing():
    boxes, scores = torch.zeros(0, 4), torch.zeros(0)
    native, routed = run_both(lambda: ops.nms(boxes, scores, 0.5))
    assert routed[1].shape == native[1].shape == (0,) and routed[1].dtype == native[1].dtype


@pytest.mark.parametrize('n', [3000, 12_000], ids=['one-call', 'split>10000'])
def test_batched_nms(n):
    boxes, scores = random_boxes(n, seed=1, size=400.0)
    classes = torch.randint(0, 6, (n,), generator=torch.Generator().manual_seed(2))
    cfg = dict(type='nms', iou_threshold=0.5)
    native, routed = run_both(lambda: ops.batched_nms(boxes, scores, classes, dict(cfg)))
    assert torch.equal(routed[1], native[1]) and torch.equal(routed[0], native[0])


# --- RoIAlign -------------------------------------------------------------------------------


@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('sampling_ratio', [0, 2])
def test_roi_align(aligned, sampling_ratio):
    generator = torch.Generator().manual_seed(3)
    features = torch.rand(2, 3, 15, 17, dtype=torch.float64, generator=generator)
    corners = torch.rand(12, 4, dtype=torch.float64, generator=generator) * 30
    rois = torch.cat(
        [
            torch.randint(0, 2, (12, 1), generator=generator).double(),
            corners[:, :2],
            corners[:, :2] + corners[:, 2:] / 2,  # some under a feature cell: legacy clamps them
        ],
        dim=1,
    )
    grad = torch.rand(12, 3, 4, 3, dtype=torch.float64, generator=generator)

    def run():
        x = features.clone().requires_grad_()
        out = ops.roi_align(x, rois, (4, 3), 0.5, sampling_ratio, 'avg', aligned)
        out.backward(grad)
        return dict(out=out.detach(), grad=x.grad)

    native, routed = run_both(run)
    assert_close(native, routed, rtol=1e-10, atol=1e-12)


def test_roi_align_backward_under_deterministic_algorithms():
    """mmengine's randomness.deterministic turns torch's deterministic mode on, in which
    torchvision's CUDA RoIAlign backward raises (mmcv's runs): the routed backward turns the
    error into a warning for its call only."""
    torch.use_deterministic_algorithms(True)
    try:
        x = torch.rand(1, 2, 8, 8, requires_grad=True)
        with cuda_ops.route_cpu():
            ops.roi_align(x, torch.tensor([[0.0, 1, 1, 6, 5]]), (2, 2), 1.0, 0).sum().backward()
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(False)
    assert x.grad.sum() > 0


def test_roi_align_max_pool_says_which_key():
    with cuda_ops.route_cpu(), pytest.raises(NotImplementedError, match='roi_layer.pool_mode'):
        ops.RoIAlign((2, 2), 1.0, pool_mode='max')(torch.rand(1, 1, 4, 4), torch.ones(1, 5))


# --- deformable convolution -----------------------------------------------------------------

DEFORM_CASES = {
    'plain': dict(groups=1, deform_groups=1, stride=1, padding=1, dilation=1),
    'groups2-dg2-stride2': dict(groups=2, deform_groups=2, stride=2, padding=1, dilation=1),
    'dg2-dilation2': dict(groups=1, deform_groups=2, stride=1, padding=2, dilation=2),
}


def deform_inputs(case: dict, modulated: bool, seed: int = 4) -> dict:
    generator = torch.Generator().manual_seed(seed)
    n, c, h, w, out, k = 2, 4, 9, 10, 6, 3
    s, p, d = case['stride'], case['padding'], case['dilation']
    oh, ow = (h + 2 * p - d * (k - 1) - 1) // s + 1, (w + 2 * p - d * (k - 1) - 1) // s + 1
    dg = case['deform_groups']
    tensors = dict(
        input=torch.rand(n, c, h, w, generator=generator),
        offset=torch.randn(n, dg * 2 * k * k, oh, ow, generator=generator) * 2,
        weight=torch.randn(out, c // case['groups'], k, k, generator=generator),
    )
    if modulated:
        tensors['mask'] = torch.rand(n, dg * k * k, oh, ow, generator=generator)
        tensors['bias'] = torch.randn(out, generator=generator)
    tensors = {key: t.double() for key, t in tensors.items()}
    tensors['grad'] = torch.rand(n, out, oh, ow, dtype=torch.float64, generator=generator)
    return tensors


@pytest.mark.parametrize('case', DEFORM_CASES, ids=str)
@pytest.mark.parametrize(
    'trained', ['all', 'weight-only', 'frozen-weight'], ids=lambda t: f'grads-{t}'
)
def test_deform_conv_v1(case, trained):
    """Forward and every gradient; with a frozen weight mmcv asks for input gradients only,
    with frozen inputs for the weight's only (which mmcv computes without the weight)."""
    params = DEFORM_CASES[case]
    inputs = deform_inputs(params, modulated=False)
    wants = dict(input=trained != 'weight-only', offset=trained != 'weight-only')
    wants['weight'] = trained != 'frozen-weight'

    def run():
        x = {k: inputs[k].clone().requires_grad_(wants[k]) for k in ('input', 'offset', 'weight')}
        out = ops.deform_conv2d(
            x['input'], x['offset'], x['weight'], params['stride'], params['padding'],
            params['dilation'], params['groups'], params['deform_groups'],
        )  # fmt: skip
        out.backward(inputs['grad'])
        return dict(out=out.detach()) | {k: t.grad for k, t in x.items() if wants[k]}

    native, routed = run_both(run)
    assert_close(native, routed, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize('case', DEFORM_CASES, ids=str)
@pytest.mark.parametrize('with_bias', [True, False], ids=['bias', 'no-bias'])
def test_modulated_deform_conv(case, with_bias):
    params = DEFORM_CASES[case]
    inputs = deform_inputs(params, modulated=True)
    names = ['input', 'offset', 'mask', 'weight'] + (['bias'] if with_bias else [])

    def run():
        x = {k: inputs[k].clone().requires_grad_() for k in names}
        out = ops.modulated_deform_conv2d(
            x['input'], x['offset'], x['mask'], x['weight'], x.get('bias'), params['stride'],
            params['padding'], params['dilation'], params['groups'], params['deform_groups'],
        )  # fmt: skip
        out.backward(inputs['grad'])
        return dict(out=out.detach()) | {k: t.grad for k, t in x.items()}

    native, routed = run_both(run)
    assert_close(native, routed, rtol=1e-9, atol=1e-10)


def test_deform_conv_in_float32_and_half_inputs():
    """float32, and the half offsets of AMP (mmcv casts input and weight to them): the routed
    path computes in float32 and writes half results."""
    params = DEFORM_CASES['groups2-dg2-stride2']
    inputs = {k: t.float() for k, t in deform_inputs(params, modulated=False).items()}
    args = (params['stride'], params['padding'], params['dilation'], 2, 2)
    native, routed = run_both(
        lambda: ops.deform_conv2d(inputs['input'], inputs['offset'], inputs['weight'], *args)
    )
    assert_close(native, routed, rtol=1e-5, atol=1e-5)
    with cuda_ops.route_cpu():
        half = ops.deform_conv2d(inputs['input'], inputs['offset'].half(), inputs['weight'], *args)
    assert half.dtype == torch.float16
    assert_close(native, half.float(), rtol=1e-2, atol=2e-2)


# --- sigmoid focal loss ---------------------------------------------------------------------


def focal_by_formula(logits, target, gamma=2.0, alpha=0.25):
    """The loss in mmcv's kernel, in float64: -alpha (1-p)^gamma log p on the target class,
    -(1-alpha) p^gamma log(1-p) elsewhere, logs clamped at FLT_MIN."""
    p = torch.sigmoid(logits.double())
    one_hot = torch.nn.functional.one_hot(target, logits.size(1) + 1)[:, :-1].bool()
    log_p, log_q = p.clamp(min=FLT_MIN).log(), (1 - p).clamp(min=FLT_MIN).log()
    return torch.where(one_hot, -alpha * (1 - p) ** gamma * log_p, -(1 - alpha) * p**gamma * log_q)


def focal_inputs(n=40, classes=5, scale=3.0):
    generator = torch.Generator().manual_seed(5)
    logits = torch.randn(n, classes, generator=generator) * scale
    target = torch.randint(0, classes + 1, (n,), generator=generator)  # classes = background
    return logits, target


def test_mmcv_has_no_cpu_focal_kernel():
    """Why the routed focal loss is compared with the kernel's formula, not with mmcv."""
    logits, target = focal_inputs()
    with pytest.raises(RuntimeError, match='not found'):
        ops.sigmoid_focal_loss(logits, target, 2.0, 0.25, None, 'none')


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
def test_focal_loss_and_gradient(reduction):
    """Against the formula and its autograd gradient (mmcv's backward kernel is the analytic
    derivative), and against mmdet's own torch version for these moderate logits."""
    from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss

    logits, target = focal_inputs()
    x = logits.clone().requires_grad_()
    with cuda_ops.route_cpu():
        loss = ops.sigmoid_focal_loss(x, target, 2.0, 0.25, None, reduction)
        (loss * 3).sum().backward()
    reference = logits.double().requires_grad_()
    expected = focal_by_formula(reference, target)
    expected = {'none': expected, 'mean': expected.sum() / len(logits), 'sum': expected.sum()}
    expected = expected[reduction]
    (expected * 3).sum().backward()
    # 1e-4: in float32, 1 - p loses digits for logits ~ 9 (so does mmcv's kernel)
    torch.testing.assert_close(loss, expected.float().detach(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(x.grad, reference.grad.float(), rtol=1e-4, atol=1e-5)
    one_hot = torch.nn.functional.one_hot(target, 6)[:, :5]
    mmdet_loss = py_sigmoid_focal_loss(logits, one_hot, reduction='none')
    if reduction == 'none':
        torch.testing.assert_close(loss.detach(), mmdet_loss, rtol=1e-4, atol=1e-5)


def test_focal_loss_class_weight():
    logits, target = focal_inputs()
    target = target.clamp(max=4)  # mmcv reads weight[target]: background has no class weight
    weight = torch.tensor([0.5, 1.0, 2.0, 0.0, 3.0])
    with cuda_ops.route_cpu():
        loss = ops.sigmoid_focal_loss(logits, target, 2.0, 0.25, weight, 'none')
    expected = focal_by_formula(logits, target) * weight[target].double().view(-1, 1)
    torch.testing.assert_close(loss, expected.float(), rtol=1e-4, atol=1e-5)


def test_focal_loss_clamps_the_log_at_flt_min_as_mmcv():
    """For |logit| >~ 17, p rounds to exactly 1 (or 0) in float32 and mmcv's kernel takes
    log(FLT_MIN) = -87.34: the loss saturates (an exact loss would grow with the logit)."""
    logits = torch.tensor([[100.0, -100.0, 30.0], [-100.0, 100.0, 0.0]])
    target = torch.tensor([1, 1])  # class 1: a positive at -100 and at 100, the rest negative
    x = logits.clone().requires_grad_()
    with cuda_ops.route_cpu():
        loss = ops.sigmoid_focal_loss(x, target, 2.0, 0.25, None, 'none')
        loss.sum().backward()
    saturated = -torch.log(torch.tensor(FLT_MIN)).item()  # 87.34
    assert loss[0, 0].item() == pytest.approx(0.75 * saturated)  # negative at +100
    assert loss[0, 1].item() == pytest.approx(0.25 * saturated)  # positive at -100
    assert loss[0, 2].item() == pytest.approx(0.75 * saturated)  # negative at +30
    assert loss[1, 1].item() == 0 and loss[1, 0].item() == 0
    assert torch.isfinite(x.grad).all()


# --- whole detectors: one training step and one prediction, routed == unrouted ------------


def build_detector(config: str, **overrides):
    """An mmdet stock config with random weights (no download); ``overrides`` are dotted keys
    under ``model`` (``test_cfg.rcnn.score_thr``), written ``__`` for the dots."""
    from mmdet.registry import MODELS
    from mmengine.hub import get_config
    from mmengine.registry import DefaultScope

    cfg = get_config(f'mmdet::{config}')
    cfg.model.backbone.update(depth=18, init_cfg=None)  # a faster test, same heads
    cfg.model.neck.in_channels = [64, 128, 256, 512]
    cfg.merge_from_dict({f'model.{k.replace("__", ".")}': v for k, v in overrides.items()})
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def train_and_predict(model, data, focal_through_mmcv: bool = False):
    """One loss forward/backward (the samplers seeded alike) and one prediction."""
    from mmdet.models.losses import focal_loss

    patch = pytest.MonkeyPatch()
    if focal_through_mmcv:
        # mmdet takes its torch focal loss for CPU tensors: send the RetinaNet loss through
        # mmcv's op (mmdet's CUDA branch) with the labels that mmdet one-hot encoded.
        def mmcv_focal(pred, one_hot, *args, **kwargs):
            background = torch.full_like(one_hot[:, 0], pred.size(1))
            labels = torch.where(one_hot.any(1), one_hot.argmax(1), background)
            return focal_loss.sigmoid_focal_loss(pred, labels, *args, **kwargs)

        patch.setattr(focal_loss, 'py_sigmoid_focal_loss', mmcv_focal)
    try:
        model.train()
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)
        losses = model(**model.data_preprocessor(data, True), mode='loss')
        total, log_vars = model.parse_losses(losses)
        total.backward()
        model.eval()
        with torch.no_grad():
            pred = model.test_step(data)[0].pred_instances
    finally:
        patch.undo()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    outputs = {f'loss:{k}': torch.as_tensor(v) for k, v in log_vars.items()}
    outputs |= {f'grad:{k}': v for k, v in grads.items()}
    outputs |= {f'pred:{k}': pred[k] for k in ('bboxes', 'scores', 'labels')}
    return outputs


@pytest.fixture(scope='module')
def detector_batch():
    from mmdet.testing import demo_mm_inputs

    return demo_mm_inputs(1, [(3, 96, 128)], num_items=[4], num_classes=80)


def routed_ops(run) -> Counter:
    """The routed calls ``run()`` made, by function."""
    before = Counter({name: n for (path, name), n in cuda_ops.CALLS.items() if path != 'mmcv'})
    result = run()
    after = Counter({name: n for (path, name), n in cuda_ops.CALLS.items() if path != 'mmcv'})
    return result, after - before


def test_retinanet_step_routed_equals_unrouted(detector_batch):
    model = build_detector('retinanet/retinanet_r50_fpn_1x_coco.py', test_cfg__score_thr=0.0)

    def run():
        return train_and_predict(model, detector_batch, focal_through_mmcv=True)

    native = train_and_predict(model, detector_batch)  # mmdet's torch focal loss, mmcv's nms
    with cuda_ops.route_cpu():
        routed, calls = routed_ops(run)
    assert {'sigmoid_focal_loss_forward', 'sigmoid_focal_loss_backward', 'nms'} <= set(calls)
    assert len(native['pred:scores']) == 100  # nms had work to do
    assert_close(native, routed, rtol=1e-4, atol=1e-6)


def test_faster_rcnn_step_routed_equals_unrouted(detector_batch):
    model = build_detector(
        'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
        train_cfg__rpn_proposal__max_per_img=200,  # fewer, thinner RoIs: a faster test
        train_cfg__rcnn__sampler__num=64,
        test_cfg__rpn__max_per_img=200,
        roi_head__bbox_head__fc_out_channels=256,
        test_cfg__rcnn__score_thr=0.0,
    )
    native = train_and_predict(model, detector_batch)
    with cuda_ops.route_cpu():
        routed, calls = routed_ops(lambda: train_and_predict(model, detector_batch))
    assert {'nms', 'roi_align_forward', 'roi_align_backward'} <= set(calls)
    assert len(native['pred:scores']) == 100
    assert_close(native, routed, rtol=1e-4, atol=1e-6)


# --- installed by the configs' imports, reaching mmdet's import-time bindings ----------------

REACHES_MMDET = """
import sys
import torch
import mmdet.models  # mmdet binds mmcv's functions first, before mgd is imported
from mmdet.models.layers import bbox_nms
from mmdet.models.losses import focal_loss
from mmdet.models.dense_heads import reppoints_head
from mmdet.structures.mask import structures as masks
from mmengine.config import Config

Config.fromfile('configs/imagenet/mobilenetv1_8xb32_in1k.py')  # its custom_imports: mgd.models
from mgd.compat import cuda_ops

proxy = cuda_ops.routed_extension()
assert cuda_ops.active_path() == 'torchvision' and proxy is not None
for name in ('nms', 'roi_align', 'focal_loss', 'deform_conv', 'modulated_deform_conv'):
    assert sys.modules['mmcv.ops.' + name].ext_module is proxy, name
from mmcv.utils import ext_loader
assert ext_loader.load_ext('_ext', ['nms']) is proxy  # what a module imported later gets

boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]])
with cuda_ops.route_cpu():
    bbox_nms.batched_nms(boxes, torch.rand(3), torch.zeros(3), dict(iou_threshold=0.5))
    masks.roi_align(torch.rand(1, 1, 8, 8), torch.tensor([[0.0, 1, 1, 6, 6]]), (2, 2))
    focal_loss._sigmoid_focal_loss(torch.rand(2, 3), torch.tensor([0, 3]), 2.0, 0.25)
    dcn = reppoints_head.DeformConv2d(2, 2, 3, padding=1)
    dcn(torch.rand(1, 2, 5, 5), torch.rand(1, 18, 5, 5))
print(sorted(name for (path, name), n in cuda_ops.CALLS.items() if path == 'torchvision'))
"""


def run_fresh(code: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_config_imports_install_it_and_mmdet_bindings_reach_it():
    result = run_fresh(REACHES_MMDET)
    called = eval(result.stdout.strip().splitlines()[-1])
    assert called == [
        'deform_conv_forward', 'nms', 'roi_align_forward', 'sigmoid_focal_loss_forward'
    ]  # fmt: skip
    assert 'mmcv ops: mmcv 2.1.0 was built without CUDA ops; on CUDA tensors, NMS' in result.stdout


LEFT_ALONE = """
import sys
import mmcv._ext
mmcv._ext.get_compiling_cuda_version = lambda: '12.1'  # as an mmcv built with FORCE_CUDA=1
import mgd.models
from mgd.compat import cuda_ops
assert cuda_ops.active_path() == 'mmcv' and cuda_ops.routed_extension() is None
assert sys.modules['mmcv.ops.nms'].ext_module is mmcv._ext
"""


def test_mmcv_with_cuda_ops_is_left_alone():
    result = run_fresh(LEFT_ALONE)
    assert "mmcv ops: mmcv 2.1.0 was built with CUDA 12.1: mmcv's own kernels run" in result.stdout


# --- tools/misc/gpu_check.py ----------------------------------------------------------------

GPU_CHECK = [sys.executable, 'tools/misc/gpu_check.py']


def test_gpu_check_help():
    result = subprocess.run(
        [*GPU_CHECK, '--help'], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert '--device' in result.stdout and '--tiny' in result.stdout


def test_gpu_check_cpu_dry_run(tmp_path):
    """One small config passes (fp32 and bfloat16 AMP steps, val forward through the routed
    NMS); a config that does not load is reported, and makes the exit status 1."""
    missing = tmp_path / 'missing_config.py'
    command = [*GPU_CHECK, '--device', 'cpu', '--tiny', '--warmup', '0']
    command += ['configs/neu_det/retinanet_r50_fpn_36e_neu_det.py', str(missing)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    out = result.stdout
    assert result.returncode == 1, out[-3000:] + result.stderr[-3000:]
    assert 'CPU tensors take the routed path too (rehearsal)' in out
    lines = out.splitlines()
    report = lines[lines.index('neu_det/retinanet_r50_fpn_36e_neu_det.py: batch 2x3x96x96') :]
    assert report[1].split()[0] == 'fp32' and 'losses finite' in report[1]
    assert report[2].split()[0] == 'amp-bf16' and 'losses finite' in report[2]
    assert report[3].split()[0] == 'val' and 'ops torchvision: nms 2' in report[3]
    assert report[4].startswith('  OK in ')
    assert f'{missing}: FAILED: FileNotFoundError' in out
    assert 'gpu_check: 1/2 configs OK' in out and f'gpu_check: FAILED {missing}' in out


def test_gpu_check_segmentation_batch_at_the_crop_size():
    """Cityscapes configs: the synthetic batch is as big as the train crop, with labels."""
    from mmengine.config import Config

    sys.path.insert(0, str(REPO / 'tools' / 'misc'))
    try:
        import gpu_check
    finally:
        sys.path.pop(0)
    cfg = Config.fromfile(
        str(REPO / 'configs/cityscapes/pspnet_r18-d8_8xb2-40k_cityscapes-512x512.py')
    )
    assert gpu_check.task_of(cfg) == 'segmentation'
    assert gpu_check.train_input_size(cfg) == (512, 512)
    batch = gpu_check.synthetic_batch('segmentation', 2, (64, 48), 19)
    assert [tuple(image.shape) for image in batch['inputs']] == [(3, 64, 48)] * 2
    labels = batch['data_samples'][0].gt_sem_seg.data
    assert labels.shape == (1, 64, 48) and 0 <= labels.min() and labels.max() < 19
    _, student = gpu_check.load_offline(
        REPO / 'configs/cityscapes/mgd_pspnet_r101_pspnet_r18_8xb2-40k_cityscapes-512x512.py'
    )
    assert student.get('pretrained') is None  # nothing to download


def test_a_cuda_tensor_takes_the_torchvision_path_without_route_cpu(monkeypatch):
    """The other tests force the routed path on CPU tensors; this one checks the decision
    itself: a tensor on CUDA (a stand-in whose ``is_cuda`` is true) goes to the routed kernel,
    a CPU tensor to mmcv's compiled one, for every kernel the extension reroutes."""
    import types

    from mgd.compat import cuda_kernels

    class OnCuda:
        is_cuda = True

    names = list(cuda_kernels.KERNELS)
    monkeypatch.setattr(
        cuda_kernels, 'KERNELS', {n: (lambda n: lambda *a, **k: ('routed', n))(n) for n in names}
    )
    compiled = types.ModuleType('mmcv._ext')
    for n in names:
        setattr(compiled, n, (lambda n: lambda *a, **k: ('compiled', n))(n))
    compiled.other = 'kept'
    proxy = cuda_ops.RoutedExtension(compiled)
    cuda_ops.CALLS.clear()
    for n in names:
        assert getattr(proxy, n)(OnCuda(), 1) == ('routed', n)
        assert getattr(proxy, n)(torch.zeros(1), 1) == ('compiled', n)
    assert proxy.other == 'kept'
    assert all(cuda_ops.CALLS['torchvision', n] == cuda_ops.CALLS['mmcv', n] == 1 for n in names)
