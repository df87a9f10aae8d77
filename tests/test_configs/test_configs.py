"""Every experiment config: its settings are the paper's, it builds, and it trains one step.

``configs/_base_``, ``configs/demo`` and ``configs/neu_det`` have their own tests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
import torch
from mmengine.config import Config
from mmrazor.models.losses import WSLD
from utils import (
    CONFIGS,
    build_model,
    check_training_step,
    is_distillation,
    offline_config,
    preprocess,
    student_loss_keys,
    tiny_batch,
    training_step,
)

import mgd.models.algorithms.mgd_distill  # the module whose print_log a test records
from mgd.models import build_teacher

OTHER_TESTS = ('_base_', 'demo', 'demo_seg', 'neu_cls', 'neu_det', 'own_data')
# YOLO-family students (mmyolo): tests/test_configs/test_yolo_configs.py
YOLO_FAMILY = ('yolo', 'rtmdet')
# beyond the paper (multi-teacher, output KD): tests/test_configs/test_kd_configs.py
BEYOND_PAPER = (
    'coco/mgd-kd_fpn_retina_x101_retina_r50_2x_coco.py',
    'imagenet/mgd-mtkd_resnet34-resnet50_resnet18_8xb32_in1k.py',
)
CONFIG_PATHS = sorted(
    p
    for p in CONFIGS.rglob('*.py')
    if p.relative_to(CONFIGS).parts[0] not in OTHER_TESTS
    and str(p.relative_to(CONFIGS)) not in BEYOND_PAPER
    and not any(word in p.name for word in YOLO_FAMILY)
)


@dataclass(frozen=True)
class Setting:
    """One row of PAPER.md's hyper-parameter table (code values where paper and code differ)."""

    alpha_mgd: float
    lambda_mgd: float
    mask_on_channel: bool
    source: str  # recorded module: 'neck' (FPN outputs) or 'backbone' (its last stage)
    levels: int
    channels: tuple[int, int]  # student, teacher
    inherit: tuple[str, ...]
    clip_grad: float | None
    max_epochs: int | None
    wsld: bool = False
    published_teacher: bool = True
    cwd: bool = False  # channel-wise logit distillation (the official segmentation code)
    max_iters: int | None = None


# Gradient clipping at 35 for every detector is the authors' code (PAPER.md names it for
# RetinaNet only); ImageNet schedules are checked separately below.
_RETINA = Setting(2e-5, 0.65, False, 'neck', 5, (256, 256), ('neck', 'bbox_head'), 35, 24)
_CASCADE = Setting(5e-7, 0.45, False, 'neck', 4, (256, 256), (), 35, 24)
_SOLO = replace(
    _RETINA, levels=4, inherit=('neck', 'mask_head'), max_epochs=12, published_teacher=False
)
_R18 = Setting(7e-5, 0.15, True, 'backbone', 1, (512, 512), (), None, 100)
_MV1 = Setting(7e-5, 0.15, True, 'backbone', 1, (1024, 2048), (), 5, 100)
# Cityscapes: the last backbone stage, the 4th of the backbone's outputs (feature_indices)
_SEG = Setting(2e-5, 0.75, False, 'backbone', 1, (512, 2048), (), None, None, max_iters=40000)
PAPER = {
    'coco/mgd_fpn_retina_x101_retina_r50_2x_coco.py': _RETINA,
    'coco/mgd_fpn_cascade-mask-rcnn_x101-dcn_faster-rcnn_r50_2x_coco.py': _CASCADE,
    'coco/mgd_fpn_cascade-mask-rcnn_x101-dcn_mask-rcnn_r50_2x_coco.py': _CASCADE,
    'coco/mgd_fpn_reppoints_x101-dcn_reppoints_r50_2x_coco.py': _RETINA,
    'coco/mgd_fpn_solo_r101_solo_r50_1x_coco.py': _SOLO,
    'coco/solo_r101_fpn_3x_coco.py': None,  # the SOLO teacher, to train (no published one)
    'imagenet/mgd_resnet34_resnet18_8xb32_in1k.py': _R18,
    'imagenet/mgd_resnet50_mobilenetv1_8xb32_in1k.py': _MV1,
    'imagenet/mgd_wsld_resnet34_resnet18_8xb32_in1k.py': replace(_R18, wsld=True),
    'imagenet/mgd_wsld_resnet50_mobilenetv1_8xb32_in1k.py': replace(_MV1, wsld=True),
    'imagenet/mobilenetv1_8xb32_in1k.py': None,  # the MobileNetV1 student alone
    'cityscapes/pspnet_r18-d8_8xb2-40k_cityscapes-512x512.py': None,
    'cityscapes/deeplabv3_r18-d8_8xb2-40k_cityscapes-512x512.py': None,
    'cityscapes/mgd_pspnet_r101_pspnet_r18_8xb2-40k_cityscapes-512x512.py': _SEG,
    'cityscapes/mgd_pspnet_r101_deeplabv3_r18_8xb2-40k_cityscapes-512x512.py': _SEG,
    'cityscapes/mgd-cwd_pspnet_r101_pspnet_r18_8xb2-40k_cityscapes-512x512.py': replace(
        _SEG, cwd=True
    ),
    'cityscapes/mgd-cwd_pspnet_r101_deeplabv3_r18_8xb2-40k_cityscapes-512x512.py': replace(
        _SEG, cwd=True
    ),
}
RETINA = CONFIGS / 'coco/mgd_fpn_retina_x101_retina_r50_2x_coco.py'


def config_id(path) -> str:
    return str(path.relative_to(CONFIGS))


def unscoped(type_name: str) -> str:
    """``'mmrazor.WSLD'`` -> ``'WSLD'``."""
    return type_name.rsplit('.', 1)[-1]


def expected_distill_keys(setting: Setting | None) -> set[str]:
    if setting is None:
        return set()
    keys = {f'distill.loss_mgd_{setting.source}{i}' for i in feature_indices(setting)}
    keys |= {'distill.loss_wsld'} if setting.wsld else set()
    return keys | ({'distill.loss_cwd'} if setting.cwd else set())


def feature_indices(setting: Setting) -> list[int]:
    """The distilled outputs: every FPN level, or the backbone's last stage (index 0 of a
    backbone that outputs it alone, index 3 of a segmentation backbone's 4 stages)."""
    return [3] if setting.max_iters else list(range(setting.levels))


def test_every_config_is_in_the_table():
    assert sorted(map(config_id, CONFIG_PATHS)) == sorted(PAPER)


@pytest.mark.parametrize('path', CONFIG_PATHS, ids=config_id)
def test_settings_are_the_papers(path):
    setting = PAPER[config_id(path)]
    cfg = Config.fromfile(str(path))
    assert cfg.custom_imports == dict(imports=['mgd.models'], allow_failed_imports=False)
    if setting is None:
        assert not is_distillation(cfg)
        return
    model = cfg.model
    losses, connectors = model.distiller.distill_losses, model.distiller.connectors
    mgd_losses = {k: v for k, v in losses.items() if unscoped(v.type) == 'MaskedGenerativeLoss'}
    assert sorted(mgd_losses) == sorted(
        f'loss_mgd_{setting.source}{i}' for i in feature_indices(setting)
    )
    assert {v.alpha_mgd for v in mgd_losses.values()} == {setting.alpha_mgd}
    assert len(connectors) == setting.levels
    for connector in connectors.values():
        assert connector.lambda_mgd == setting.lambda_mgd
        assert connector.mask_on_channel == setting.mask_on_channel
        assert (connector.student_channels, connector.teacher_channels) == setting.channels
    for recorders in (model.distiller.student_recorders, model.distiller.teacher_recorders):
        feats = recorders.feats
        assert (unscoped(feats.type), feats.source) == ('ModuleOutputs', setting.source)
    assert tuple(model.get('inherit', ())) == setting.inherit
    clip_grad = cfg.optim_wrapper.get('clip_grad')
    assert (clip_grad and clip_grad.max_norm) == setting.clip_grad
    assert clip_grad is None or clip_grad.get('norm_type', 2) == 2
    assert 'optimizer_config' not in cfg  # mmengine ignores it: clipping would silently be off
    assert cfg.train_cfg.get('max_epochs') == setting.max_epochs
    assert cfg.train_cfg.get('max_iters') == setting.max_iters
    assert ('loss_wsld' in losses) == setting.wsld
    assert ('loss_cwd' in losses) == setting.cwd
    if setting.cwd:  # tau 4, weight 3 on the decode heads' logits, as the official code
        assert (losses.loss_cwd.tau, losses.loss_cwd.loss_weight) == (4, 3)
        for recorders in (model.distiller.student_recorders, model.distiller.teacher_recorders):
            assert recorders.logits.source == 'decode_head.conv_seg'
    teacher_runs = 'tensor' if setting.wsld or setting.cwd else 'extract_feat'
    assert model.get('teacher_runs', 'extract_feat') == teacher_runs
    if setting.published_teacher:
        assert model.teacher_ckpt.startswith('https://download.openmmlab.com/')
    else:
        assert model.teacher_ckpt is None


@pytest.mark.parametrize('path', [p for p in CONFIG_PATHS if 'imagenet' in p.parts], ids=config_id)
def test_imagenet_schedule(path):
    """SGD lr 0.1, momentum 0.9, weight decay 1e-4, 100 epochs, steps at 30/60/90, 8x32."""
    cfg = offline_config(path)
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum, optimizer.weight_decay) == (
        'SGD',
        0.1,
        0.9,
        1e-4,
    )
    scheduler = cfg.param_scheduler
    assert scheduler.type == 'MultiStepLR'
    assert (scheduler.milestones, scheduler.gamma) == ([30, 60, 90], 0.1)
    assert cfg.train_dataloader.batch_size == 32


@pytest.mark.parametrize('path', CONFIG_PATHS, ids=config_id)
def test_one_training_step(path):
    setting = PAPER[config_id(path)]
    cfg = offline_config(path)
    model = build_model(cfg)
    data = preprocess(model, tiny_batch(cfg))
    student_keys = student_loss_keys(model, data)
    losses = training_step(model, data)
    assert set(losses) == student_keys | expected_distill_keys(setting)
    check_training_step(model, losses, expected_distill_keys(setting))


MV1 = CONFIGS / 'imagenet/mgd_resnet50_mobilenetv1_8xb32_in1k.py'
WSLD_R18 = CONFIGS / 'imagenet/mgd_wsld_resnet34_resnet18_8xb32_in1k.py'


def one_step(path, **model_overrides):
    """Builds an offline config and takes one training step; returns (model, data, losses)."""
    cfg = offline_config(path, **model_overrides)
    model = build_model(cfg)
    data = preprocess(model, tiny_batch(cfg))
    return model, data, training_step(model, data)


def mgd_inputs(model, loss_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The (student, teacher) tensors that ``loss_name``'s mapping feeds to the connector
    and the loss; each recorder must have recorded exactly one forward."""
    for manager in (model.distiller.student_recorders, model.distiller.teacher_recorders):
        assert len(manager.get_recorder('feats').data_buffer) == 1
    mapping = model.distiller.loss_forward_mappings[loss_name]
    student = {k: v for k, v in mapping['preds_S'].items() if k != 'connector'}
    return model.distiller.get_record(**student), model.distiller.get_record(**mapping['preds_T'])


def test_recorded_fpn_levels_are_extract_feat():
    model, data, _ = one_step(RETINA)
    with torch.no_grad():  # the student is in train mode: its BN uses batch statistics again
        teacher_feats = model.teacher.extract_feat(data['inputs'])
        student_feats = model.student.extract_feat(data['inputs'])
    assert len(teacher_feats) == len(student_feats) == 5
    for level in range(5):
        student, teacher = mgd_inputs(model, f'loss_mgd_neck{level}')
        assert torch.equal(student, student_feats[level])
        assert torch.equal(teacher, teacher_feats[level])
        assert student.shape == teacher.shape == (1, 256, *student_feats[level].shape[2:])


def test_recorded_backbone_output_is_the_last_stage():
    model, data, _ = one_step(MV1)
    with torch.no_grad():
        student_last = model.student.backbone(data['inputs'])[-1]
        teacher_last = model.teacher.backbone(data['inputs'])[-1]
    student, teacher = mgd_inputs(model, 'loss_mgd_backbone0')
    assert torch.equal(student, student_last) and student.shape == (2, 1024, 1, 1)
    assert torch.equal(teacher, teacher_last) and teacher.shape == (2, 2048, 1, 1)


def test_wsld_gets_both_logits_and_the_labels():
    model, data, losses = one_step(WSLD_R18)
    labels = torch.cat([sample.gt_label for sample in data['data_samples']])
    with torch.no_grad():
        teacher_logits = model.teacher(data['inputs'], mode='tensor')
        student_logits = model.student(data['inputs'], mode='tensor')
    recorded_labels = model.distiller.get_record('gt_labels', from_student=True, data_idx=1)
    assert torch.equal(recorded_labels, labels)
    assert torch.equal(model.distiller.get_record('logits', from_student=False), teacher_logits)
    torch.testing.assert_close(
        model.distiller.get_record('logits', from_student=True), student_logits
    )
    expected = WSLD(tau=2, loss_weight=2.5)(student_logits, teacher_logits, labels)
    torch.testing.assert_close(losses['distill.loss_wsld'], expected)


@pytest.fixture(scope='module')
def retina_teacher_ckpt(tmp_path_factory):
    """The RetinaNet config's teacher at its random initialisation, saved as a checkpoint."""
    teacher = build_teacher(Config.fromfile(str(RETINA)).model.teacher)
    path = tmp_path_factory.mktemp('teacher') / 'retina_x101.pth'
    torch.save({'state_dict': teacher.state_dict()}, path)
    return path


def build_from_teacher_ckpt(path, monkeypatch, **student_head):
    warnings = []

    def record_log(msg, logger=None, level=20):
        if level >= 30:
            warnings.append(msg)

    monkeypatch.setattr(mgd.models.algorithms.mgd_distill, 'print_log', record_log)
    cfg = offline_config(RETINA, teacher_ckpt=str(path))
    cfg.model.architecture.bbox_head.update(student_head)
    return build_model(cfg), warnings


def test_student_inherits_neck_and_head(retina_teacher_ckpt, monkeypatch):
    checkpoint = torch.load(retina_teacher_ckpt)['state_dict']
    model, warnings = build_from_teacher_ckpt(retina_teacher_ckpt, monkeypatch)
    student = model.student.state_dict()
    inherited = [k for k in student if k.startswith(('neck.', 'bbox_head.'))]
    assert inherited and not warnings
    for key in inherited:
        assert torch.equal(student[key], checkpoint[key]), key
    assert student['backbone.conv1.weight'].shape == checkpoint['backbone.conv1.weight'].shape
    assert not torch.equal(student['backbone.conv1.weight'], checkpoint['backbone.conv1.weight'])
    teacher = model.teacher.state_dict()
    assert all(torch.equal(teacher[k], checkpoint[k]) for k in checkpoint)


def test_inherit_skips_and_names_mismatched_tensors(retina_teacher_ckpt, monkeypatch):
    checkpoint = torch.load(retina_teacher_ckpt)['state_dict']
    # 2 anchor scales per octave instead of 3: 6 anchors a position, not 9
    anchors = dict(Config.fromfile(str(RETINA)).model.architecture.bbox_head.anchor_generator)
    model, warnings = build_from_teacher_ckpt(
        retina_teacher_ckpt, monkeypatch, anchor_generator=dict(anchors, scales_per_octave=2)
    )
    student = model.student.state_dict()
    mismatched = {f'bbox_head.retina_{k}.{p}' for k in ('cls', 'reg') for p in ('weight', 'bias')}
    assert student['bbox_head.retina_cls.weight'].shape == (6 * 80, 256, 3, 3)
    assert len(warnings) == 1 and all(key in warnings[0] for key in mismatched)
    for key in student:
        if key.startswith(('neck.', 'bbox_head.')) and key not in mismatched:
            assert torch.equal(student[key], checkpoint[key]), key


def test_inherit_refuses_a_head_for_other_classes(retina_teacher_ckpt, monkeypatch):
    with pytest.raises(ValueError) as info:
        build_from_teacher_ckpt(retina_teacher_ckpt, monkeypatch, num_classes=3)
    assert "the student's bbox_head predicts 3 classes, the teacher's 80" in str(info.value)
    assert "remove 'bbox_head' from model.inherit" in str(info.value)


def test_solo_teacher_config_builds_the_distillation_teacher():
    solo = Config.fromfile(str(CONFIGS / 'coco/mgd_fpn_solo_r101_solo_r50_1x_coco.py'))
    from_distillation = build_teacher(solo.model.teacher).state_dict()
    from_file = build_teacher(dict(cfg_path=str(CONFIGS / 'coco/solo_r101_fpn_3x_coco.py')))
    shapes = {k: v.shape for k, v in from_file.state_dict().items()}
    assert shapes == {k: v.shape for k, v in from_distillation.items()}
    assert 'backbone.layer3.22.conv1.weight' in shapes  # ResNet-101: 23 blocks in stage 3


CWD_PSP = CONFIGS / 'cityscapes/mgd-cwd_pspnet_r101_pspnet_r18_8xb2-40k_cityscapes-512x512.py'


def test_segmentation_distils_the_last_stage_and_the_logits_channel_wise():
    model, data, losses = one_step(CWD_PSP)
    with torch.no_grad():
        student_last = model.student.backbone(data['inputs'])[3]
        teacher_last = model.teacher.backbone(data['inputs'])[3]
        teacher_logits = model.teacher(data['inputs'], mode='tensor')
    mapping = model.distiller.loss_forward_mappings['loss_mgd_backbone3']
    student = model.distiller.get_record(
        **{k: v for k, v in mapping['preds_S'].items() if k != 'connector'}
    )
    assert student.shape == (2, 512, 8, 8)  # R18-D8's last stage, 1/8 of 64x64
    torch.testing.assert_close(student, student_last)  # the student trains: BN batch statistics
    teacher = model.distiller.get_record(**mapping['preds_T'])
    assert torch.equal(teacher, teacher_last) and teacher.shape == (2, 2048, 8, 8)
    # the channel-wise divergence of the official code, by hand: softmax over each channel's
    # h*w positions at tau 4, KL(teacher || student) * tau², times 3 / (channels * images)
    student_logits = model.distiller.get_record('logits', from_student=True)
    assert torch.equal(model.distiller.get_record('logits', from_student=False), teacher_logits)
    n, c, h, w = student_logits.shape
    assert (n, c) == (2, 19) and student_logits.shape == teacher_logits.shape
    t = (teacher_logits / 4).reshape(n * c, h * w)
    s = (student_logits / 4).reshape(n * c, h * w)
    kl = (t.softmax(1) * (t.log_softmax(1) - s.log_softmax(1))).sum() * 16
    torch.testing.assert_close(losses['distill.loss_cwd'], 3 * kl / (c * n))
