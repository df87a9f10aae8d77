"""Check that every paper config trains on this machine's GPU, before a long run.

For each config (default: configs/coco, configs/neu_det and configs/imagenet, without the
data-only neu_det_detection.py), at full size with random weights (no download: no teacher
checkpoint, no pretrained backbone, no load_from) and synthetic batches at the real input size
and per-GPU batch size of its train pipeline, it runs a few training iterations (the config's
optimizer and gradient clipping, through ``model.train_step`` as mmengine's Runner does) in
fp32 and with AMP (mmengine's AmpOptimWrapper, fp16, dynamic loss scale, as
``tools/train.py --amp``), each from the same initial weights, then one val-mode forward of
them (every ``score_thr`` set to 0, so that NMS runs on random scores). It prints per mode:
iterations/s, peak GPU memory, whether every loss was finite, and which path mmcv's ops took
(``torchvision``: routed by mgd.compat.cuda_ops because mmcv has no CUDA ops; ``mmcv``: mmcv's
own kernels). Exit status 1 if any config failed.

    python tools/misc/gpu_check.py                                # every config, on cuda:0
    python tools/misc/gpu_check.py configs/coco/mgd_fpn_retina_x101_retina_r50_2x_coco.py
    python tools/misc/gpu_check.py --device cpu --tiny            # CPU dry run, tiny inputs

On the CPU, AMP is bfloat16 autocast (mmengine's AmpOptimWrapper needs an accelerator) and CPU
tensors take the routed torchvision path too (``--mmcv-cpu-ops`` keeps mmcv's CPU kernels), so
that the dry run rehearses the code the GPU runs. The learning rate is the config's at its first
iteration (times the warmup's start factor). Single process only: no distributed run.
"""

from __future__ import annotations

import argparse
import copy
import gc
import logging
import sys
import time
import traceback
from collections import Counter
from contextlib import contextmanager, nullcontext
from pathlib import Path

from mgd.analysis.offline import TINY_SIZE, num_classes_of, synthetic_batch, task_of

REPO = Path(__file__).resolve().parents[2]
PAPER_DIRS = ('coco', 'neu_det', 'imagenet', 'cityscapes')
DATA_ONLY = {'neu_det_detection.py'}
GT_PER_IMAGE = 8


def paper_configs() -> list[Path]:
    return sorted(
        path
        for folder in PAPER_DIRS
        for path in (REPO / 'configs' / folder).glob('*.py')
        if path.name not in DATA_ONLY
    )


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        epilog=f'Configs default to every paper config ({", ".join(PAPER_DIRS)}).',
    )
    parser.add_argument('configs', nargs='*', type=Path, help='configs to check')
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    parser.add_argument(
        '--tiny',
        action='store_true',
        help='2 images of 96x96 (ImageNet: 32x32), 1 warm-up and 1 timed iteration',
    )
    parser.add_argument('--iters', type=int, help='timed iterations per mode (5; --tiny 1)')
    parser.add_argument('--warmup', type=int, help='untimed iterations first (2; --tiny 1)')
    parser.add_argument('--batch-size', type=int, help="images per batch (config's; --tiny 2)")
    parser.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'), help='input size')
    parser.add_argument('--no-amp', action='store_true', help='fp32 only')
    parser.add_argument(
        '--mmcv-cpu-ops',
        action='store_true',
        help="on the CPU, keep mmcv's CPU kernels instead of rehearsing the torchvision path",
    )
    args = parser.parse_args(argv)
    args.iters = args.iters or (1 if args.tiny else 5)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.tiny else 2)
    args.configs = args.configs or paper_configs()
    return args


# --- the config, its model and its batch -----------------------------------------------------


def load_offline(path: Path):
    """The config with nothing to download, every detection kept by the val forward, and the
    data preprocessor merged into the model (as mmengine's Runner does).

    Returns:
        ``(cfg, the student's model config)``.
    """
    from mgd.analysis.offline import offline_config
    from mgd.utils.distill_config import evaluated_model

    cfg = offline_config(path)
    student = evaluated_model(cfg)[1]
    keep_every_score(student.get('test_cfg'))
    return cfg, student


def keep_every_score(test_cfg) -> None:
    """Sets every ``score_thr`` to 0: random weights score below the configs' thresholds,
    and NMS would then never run in the val forward."""
    if isinstance(test_cfg, dict):
        if 'score_thr' in test_cfg:
            test_cfg['score_thr'] = 0.0
        for value in test_cfg.values():
            keep_every_score(value)


def train_input_size(cfg) -> tuple[int, int]:
    """The largest (H, W) the train pipeline's resize gives (landscape for keep_ratio)."""
    dataset = cfg.train_dataloader.dataset
    while 'pipeline' not in dataset:
        dataset = dataset.get('dataset') or dataset.datasets[0]
    crops = [t.crop_size for t in dataset.pipeline if t.get('type') == 'RandomCrop']
    if crops:  # segmentation trains on crops
        return tuple(crops[0])
    sizes = []
    for transform in dataset.pipeline:
        for scale in (transform.get('scale'), *(transform.get('scales') or ())):
            if isinstance(scale, int):
                sizes.append((scale, scale))
            elif isinstance(scale, list | tuple) and scale and isinstance(scale[0], int):
                sizes.append((min(scale), max(scale)))
            elif isinstance(scale, list | tuple):  # RandomResize: a range of (w, h)
                sizes += [(min(s), max(s)) for s in scale]
    if not sizes:
        raise ValueError('no resize in the train pipeline: pass --size H W')
    return max(sizes, key=lambda hw: hw[0] * hw[1])


def build_model(cfg, device):
    from mmengine.logging import MMLogger
    from mmengine.model import revert_sync_batchnorm

    from mgd.analysis.offline import build_offline

    model = build_offline(cfg)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights logs every parameter's initialisation
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    model = revert_sync_batchnorm(model).to(device)  # the Runner's, single process
    model.train()  # not chained: mmrazor's SingleTeacherDistill.train returns None
    return model


def first_lr_factor(cfg) -> float:
    """The warmup's start factor: the fraction of the lr the first iterations train with."""
    schedulers = cfg.get('param_scheduler') or []
    for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
        if scheduler.get('type', '').split('.')[-1] == 'LinearLR':
            return scheduler.get('start_factor', 1 / 3)
    return 1.0


def build_optim_wrapper(cfg, model, amp: bool, device: str):
    """The config's optim wrapper at its first iteration's lr; with ``amp`` on CUDA, what
    ``tools/train.py --amp`` makes of it; with ``amp`` on the CPU, bfloat16 autocast."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    from mgd.utils.config import apply_train_options

    cfg = copy.deepcopy(cfg)
    cfg.optim_wrapper.optimizer.lr *= first_lr_factor(cfg)
    if amp and device == 'cuda':
        apply_train_options(cfg, amp=True)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    if amp and device == 'cpu':
        optim_wrapper.optim_context = cpu_autocast(optim_wrapper.optim_context)
    return optim_wrapper


def cpu_autocast(optim_context):
    import torch

    @contextmanager
    def context(model):
        with optim_context(model), torch.autocast('cpu', dtype=torch.bfloat16):
            yield

    return context


# --- the checks ------------------------------------------------------------------------------


def op_calls(before: Counter) -> str:
    from mgd.compat import cuda_ops

    made = cuda_ops.CALLS - before
    if not made:
        return 'no mmcv ops'
    paths = sorted({path for path, _ in made})
    return '; '.join(
        f'{path}: ' + ', '.join(f'{name} {n}' for (p, name), n in sorted(made.items()) if p == path)
        for path in paths
    )


def synchronize(device: str) -> None:
    import torch

    if device == 'cuda':
        torch.cuda.synchronize()


def peak_memory(device: str) -> str:
    import torch

    if device != 'cuda':
        return 'peak mem n/a (CPU)'
    return f'peak mem {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB'


def train_mode(model, cfg, batch, args, amp: bool) -> str:
    """Trains ``args.warmup + args.iters`` iterations; returns the report line."""
    import torch

    from mgd.compat import cuda_ops

    optim_wrapper = build_optim_wrapper(cfg, model, amp, args.device)
    if args.device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    before = Counter(cuda_ops.CALLS)
    start = None
    for iteration in range(args.warmup + args.iters):
        if iteration == args.warmup:
            synchronize(args.device)
            start = time.perf_counter()
        log_vars = model.train_step(copy.deepcopy(batch), optim_wrapper)
        values = {k: torch.as_tensor(v).detach().float() for k, v in log_vars.items()}
        bad = sorted(k for k, v in values.items() if not torch.isfinite(v).all())
        if bad:
            raise FloatingPointError(f'iteration {iteration}: non-finite losses {bad}')
    synchronize(args.device)
    speed = args.iters / (time.perf_counter() - start)
    scale = getattr(optim_wrapper, 'loss_scaler', None)
    scale = f', loss scale {scale.get_scale():g}' if scale is not None else ''
    loss = values['loss'].item()
    del optim_wrapper
    return (
        f'{speed:7.2f} it/s  {peak_memory(args.device)}  losses finite (loss {loss:.4g}'
        f'{scale})  ops {op_calls(before)}'
    )


def val_forward(model, batch, args) -> str:
    import torch

    from mgd.compat import cuda_ops

    before = Counter(cuda_ops.CALLS)
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        outputs = model.val_step(copy.deepcopy(batch))
    synchronize(args.device)
    seconds = time.perf_counter() - start
    model.train()
    if len(outputs) != len(batch['inputs']):
        raise RuntimeError(f'{len(outputs)} results for {len(batch["inputs"])} images')
    if 'pred_instances' in outputs[0]:
        found = sum(len(out.pred_instances) for out in outputs)
        what = f'{found} detections'
    elif 'seg_logits' in outputs[0]:
        logits = torch.stack([out.seg_logits.data for out in outputs])
        if not torch.isfinite(logits).all():
            raise FloatingPointError('non-finite segmentation logits')
        what = f'logits {tuple(logits.shape)} finite'
    else:
        scores = torch.stack([out.pred_score for out in outputs])
        if not torch.isfinite(scores).all():
            raise FloatingPointError('non-finite predicted scores')
        what = f'scores {tuple(scores.shape)} finite'
    return f'{seconds:7.2f} s     {what}  ops {op_calls(before)}'


def check_config(path: Path, args) -> bool:
    import torch

    name = path.relative_to(REPO / 'configs') if path.is_relative_to(REPO / 'configs') else path
    start = time.perf_counter()
    model = None
    try:
        cfg, student = load_offline(path)
        task = task_of(cfg)
        size = tuple(args.size or (TINY_SIZE[task] if args.tiny else train_input_size(cfg)))
        batch_size = args.batch_size or (2 if args.tiny else cfg.train_dataloader.batch_size)
        batch = synthetic_batch(task, batch_size, size, num_classes_of(student), GT_PER_IMAGE)
        # mmyolo's "fast" configs collate with yolov5_collate in training only
        val_batch = batch
        if task == 'yolo':
            val_batch = synthetic_batch('detection', batch_size, size, num_classes_of(student))
        torch.manual_seed(0)
        model = build_model(cfg, args.device)
        print(f'{name}: batch {batch_size}x3x{size[0]}x{size[1]}', flush=True)
        # Each mode, and the val forward, starts from the same initial weights: a few steps at
        # the full lr on a tiny batch can leave BatchNorm statistics that overflow in eval mode.
        initial = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        for amp in [False] if args.no_amp else [False, True]:
            model.load_state_dict(initial)
            torch.manual_seed(1)
            report = train_mode(model, cfg, batch, args, amp)
            label = ('amp-fp16' if args.device == 'cuda' else 'amp-bf16') if amp else 'fp32'
            print(f'  {label:9s}{report}', flush=True)
        model.load_state_dict(initial)
        print(f'  {"val":9s}{val_forward(model, val_batch, args)}', flush=True)
        print(f'  OK in {time.perf_counter() - start:.1f} s', flush=True)
        return True
    except Exception as err:  # report, then go on with the next config
        print(f'{name}: FAILED: {type(err).__name__}: {err}', flush=True)
        traceback.print_exc()
        return False
    finally:
        del model
        gc.collect()
        if args.device == 'cuda':
            torch.cuda.empty_cache()


def main(argv=None) -> int:
    args = parse_args(argv)
    import mmcv
    import torch
    import torchvision

    import mgd.models  # noqa: F401  (stack fixes, mmcv op routing, the MGD classes)
    from mgd.compat import cuda_ops

    if args.device == 'cuda' and not torch.cuda.is_available():
        print('gpu_check: no CUDA GPU here (for a CPU dry run: --device cpu --tiny)')
        return 1
    device = torch.cuda.get_device_name(0) if args.device == 'cuda' else 'CPU'
    print(
        f'gpu_check: {device}; torch {torch.__version__}, torchvision {torchvision.__version__}, '
        f'mmcv {mmcv.__version__} (CUDA ops: {mmcv.ops.get_compiling_cuda_version()})'
    )
    path = cuda_ops.active_path()
    rehearse = args.device == 'cpu' and path == 'torchvision' and not args.mmcv_cpu_ops
    print(
        f'mmcv ops: {path}'
        + (f' ({cuda_ops.torchvision_build()})' if path == 'torchvision' else '')
        + ('; CPU tensors take the routed path too (rehearsal)' if rehearse else '')
    )
    start = time.perf_counter()
    with cuda_ops.route_cpu() if rehearse else nullcontext():
        results = {path: check_config(path.resolve(), args) for path in args.configs}
    failed = [str(path) for path, ok in results.items() if not ok]
    summary = f'{len(results) - len(failed)}/{len(results)} configs OK'
    print(f'gpu_check: {summary} in {time.perf_counter() - start:.0f} s')
    for path in failed:
        print(f'gpu_check: FAILED {path}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
