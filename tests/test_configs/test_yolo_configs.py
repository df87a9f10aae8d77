"""The YOLO-family configs (mmyolo students): what they distil, that they keep mmyolo's own
hooks, and one training step of each on a tiny batch."""

from __future__ import annotations

import pytest
import torch
from mmengine.config import Config
from mmengine.hub import get_config
from utils import (
    CONFIGS,
    build_model,
    check_training_step,
    offline_config,
    preprocess,
    tiny_batch,
    training_step,
)

from mgd.models import MGDDistill

COCO = CONFIGS / 'coco'
YOLOV5 = {
    'mgd_yolov5_m-v61_yolov5_s-v61_300e_coco.py': {f'loss_mgd_neck{i}' for i in range(3)},
    'kd-yolov5_yolov5_m-v61_yolov5_s-v61_300e_coco.py': {'loss_kd_yolov5'},
    'mgd-kd-yolov5_yolov5_m-v61_yolov5_s-v61_300e_coco.py': {
        'loss_kd_yolov5',
        *(f'loss_mgd_neck{i}' for i in range(3)),
    },
}
RTMDET = {
    'mgd_rtmdet_s_rtmdet_tiny_300e_coco.py': {f'loss_mgd_neck{i}' for i in range(3)},
    'mmyolo_kd_tiny_rtmdet_s_neck_300e_coco.py': {f'loss_fpn{i}' for i in range(3)},
}
CONFIGS_LOSSES = {**YOLOV5, **RTMDET}


def test_every_yolo_config_of_coco_is_tested_here():
    found = {p.name for p in COCO.glob('*.py') if 'yolo' in p.name or 'rtmdet' in p.name}
    assert found == set(CONFIGS_LOSSES)


@pytest.mark.parametrize('name', sorted(CONFIGS_LOSSES))
def test_one_training_step(name):
    cfg = offline_config(COCO / name)
    torch.manual_seed(0)
    model = build_model(cfg)
    losses = training_step(model, preprocess(model, tiny_batch(cfg)))
    distill = {f'distill.{k}' for k in CONFIGS_LOSSES[name]}
    assert {k for k in losses if k.startswith('distill.')} == distill
    assert {'student.loss_cls', 'student.loss_bbox'} <= set(losses)
    if isinstance(model, MGDDistill) and 'mgd' in name:
        check_training_step(model, losses, distill)
    else:  # output KD alone has no connector; mmyolo's anchor is its own algorithm
        assert all(torch.isfinite(v).all() for v in losses.values())
        student = model.student
        assert all(p.grad is not None for p in student.parameters() if p.requires_grad)
        assert all(p.grad is None for p in model.teacher.parameters())


@pytest.mark.parametrize('name', sorted(CONFIGS_LOSSES))
def test_mmyolos_own_hooks_stay(name):
    cfg = Config.fromfile(str(COCO / name))
    types = [h['type'] for h in cfg.custom_hooks]
    assert types[-3:] == ['mgd.RNGStateHook', 'mgd.FiniteLossHook', 'mgd.TeacherCacheHook']
    assert 'EMAHook' in types
    if 'rtmdet' in name:
        assert 'mmdet.PipelineSwitchHook' in types
    assert cfg.default_hooks.checkpoint.type == 'mgd.AtomicCheckpointHook'


@pytest.mark.parametrize('name', sorted(YOLOV5))
def test_yolov5_teacher_student_and_kd_gains(name):
    cfg = Config.fromfile(str(COCO / name))
    student = get_config('mmyolo::yolov5/yolov5_s-v61_syncbn_fast_8xb16-300e_coco.py').model
    assert cfg.model.architecture.backbone.widen_factor == student.backbone.widen_factor == 0.5
    assert cfg.model.teacher.cfg_path.endswith('yolov5_m-v61_syncbn_fast_8xb16-300e_coco.py')
    assert cfg.model.teacher_ckpt.endswith('516a710f.pth')  # mmyolo's published YOLOv5-m
    losses = cfg.model.distiller.distill_losses
    if 'loss_kd_yolov5' in losses:
        kd = losses.loss_kd_yolov5
        head = student.bbox_head
        assert cfg.model.teacher_runs == 'tensor'
        assert (kd.box_gain, kd.obj_gain, kd.cls_gain) == (
            head.loss_bbox.loss_weight,
            head.loss_obj.loss_weight,
            head.loss_cls.loss_weight,
        )
        assert kd.num_classes == 80 and kd.loss_weight == 10
    for i, (s, t) in enumerate([(128, 192), (256, 384), (512, 768)]):
        connector = cfg.model.distiller.get('connectors', {}).get(f'mgd_neck{i}')
        if connector is not None:
            assert (connector.student_channels, connector.teacher_channels) == (s, t)


def test_mgd_channels_are_the_necks_outputs():
    """The connectors' channels are what the two YOLOv5 necks really output, level by level."""
    cfg = offline_config(COCO / 'mgd_yolov5_m-v61_yolov5_s-v61_300e_coco.py')
    model = build_model(cfg)
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        student = [f.shape[1] for f in model.student.extract_feat(x)]
        teacher = [f.shape[1] for f in model.teacher.extract_feat(x)]
    connectors = [model.distiller.connectors[f'mgd_neck{i}'] for i in range(3)]
    assert student == [c.student_channels for c in connectors] == [128, 256, 512]
    assert teacher == [c.teacher_channels for c in connectors] == [192, 384, 768]


# NEU-DET from scratch (tools/demo.py --family yolov5)
NEU_DET = CONFIGS / 'neu_det'
NEU_TEACHER, NEU_STUDENT = 'yolov5_s_scratch_neu_det.py', 'yolov5_n_scratch_neu_det.py'
NEU_DISTILL = {
    'mgd_yolov5_s_yolov5_n_scratch_neu_det.py': {f'loss_mgd_neck{i}' for i in range(3)},
    'kd-yolov5_yolov5_s_yolov5_n_scratch_neu_det.py': {'loss_kd_yolov5'},
    'mgd-kd-yolov5_yolov5_s_yolov5_n_scratch_neu_det.py': {
        'loss_kd_yolov5',
        *(f'loss_mgd_neck{i}' for i in range(3)),
    },
}


def test_every_yolo_config_of_neu_det_is_tested_here():
    found = {p.name for p in NEU_DET.glob('*.py') if 'yolo' in p.name}
    assert found == {NEU_TEACHER, NEU_STUDENT, *NEU_DISTILL}


@pytest.mark.parametrize('name, widen, epochs', [(NEU_TEACHER, 0.5, 24), (NEU_STUDENT, 0.25, 12)])
def test_neu_det_yolov5_for_6_classes_at_160_px(name, widen, epochs):
    cfg = Config.fromfile(str(NEU_DET / name))
    retinanet = Config.fromfile(
        str(
            NEU_DET
            / name.replace('yolov5_s', 'retinanet_r18-w32').replace('yolov5_n', 'retinanet_r18-w16')
        )
    )
    model = cfg.model
    assert model._scope_ == 'mmyolo' and cfg.default_scope == 'mmdet'  # mmdet's data, metric
    assert model.type == 'YOLODetector' and model.bbox_head.head_module.num_classes == 6
    assert model.backbone.widen_factor == model.neck.widen_factor == widen
    assert model.bbox_head.head_module.widen_factor == widen
    assert model.backbone.deepen_factor == 0.33
    # YOLOv5's gains, scaled for 6 classes and 160 px as mmyolo scales them for COCO at 640
    assert model.bbox_head.loss_cls.loss_weight == pytest.approx(0.5 * 6 / 80)
    assert model.bbox_head.loss_obj.loss_weight == pytest.approx(1.0 * (160 / 640) ** 2)
    assert model.bbox_head.loss_bbox.loss_weight == 0.05
    assert model.bbox_head.ignore_iof_thr == 0.5  # difficult boxes are ignored regions
    assert 'collate_fn' not in cfg.train_dataloader  # mmdet's: keeps the ignored boxes
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        resize = cfg[loader].dataset.pipeline[1 if loader != 'train_dataloader' else 2]
        assert resize == dict(type='Resize', scale=(160, 160), keep_ratio=True)
    # the RetinaNet run's schedule, optimizer, data and hooks
    assert cfg.train_cfg == retinanet.train_cfg and cfg.train_cfg.max_epochs == epochs
    assert cfg.param_scheduler == retinanet.param_scheduler
    assert cfg.optim_wrapper == retinanet.optim_wrapper
    assert cfg.train_dataloader.batch_size == retinanet.train_dataloader.batch_size == 8
    ema, *ours = cfg.custom_hooks  # YOLOv5 evaluated with its weights' moving average
    assert ours == retinanet.custom_hooks
    assert (ema.type, ema.ema_type, ema.momentum) == ('EMAHook', 'ExpMomentumEMA', 0.002)


@pytest.mark.parametrize('name', [NEU_TEACHER, NEU_STUDENT, *sorted(NEU_DISTILL)])
def test_neu_det_one_training_step(name):
    cfg = offline_config(NEU_DET / name)
    torch.manual_seed(0)
    model = build_model(cfg)
    losses = training_step(model, preprocess(model, tiny_batch(cfg)))
    distill = {f'distill.{k}' for k in NEU_DISTILL.get(name, ())}
    if 'mgd' in name:
        check_training_step(model, losses, distill)
    else:
        assert {k for k in losses if k.startswith('distill.')} == distill
        assert all(torch.isfinite(v).all() for v in losses.values())
    student = model.student if isinstance(model, MGDDistill) else model
    assert all(p.grad is not None for p in student.parameters() if p.requires_grad)
    if isinstance(model, MGDDistill):
        assert all(p.grad is None for p in model.teacher.parameters())


@pytest.mark.parametrize('name', sorted(NEU_DISTILL))
def test_neu_det_distillation_reads_the_trained_teacher(name):
    cfg = Config.fromfile(str(NEU_DET / name))
    assert cfg.model.teacher.cfg_path.endswith(NEU_TEACHER)
    assert cfg.model.teacher_ckpt == 'work_dirs/neu_det_yolov5/teacher/epoch_24.pth'
    assert cfg.model.get('inherit', ()) == ()  # narrower neck and head: nothing to inherit
    losses = cfg.model.distiller.distill_losses
    if 'loss_kd_yolov5' in losses:
        head = cfg.model.architecture.bbox_head
        kd = losses.loss_kd_yolov5
        assert (kd.num_classes, kd.cls_gain, kd.obj_gain) == (
            6,
            head.loss_cls.loss_weight,
            head.loss_obj.loss_weight,
        )
    if 'loss_mgd_neck0' in losses:
        connectors = cfg.model.distiller.connectors
        channels = [
            (
                connectors[f'mgd_neck{i}'].student_channels,
                connectors[f'mgd_neck{i}'].teacher_channels,
            )
            for i in range(3)
        ]
        assert channels == [(64, 128), (128, 256), (256, 512)]
        assert {losses[f'loss_mgd_neck{i}'].alpha_mgd for i in range(3)} == {2e-5}


def test_neu_det_ignored_boxes_change_the_objectness_loss():
    """A difficult box (an ignored region) is neither object nor background for YOLOv5:
    the objectness loss with it ignored differs from the loss with it dropped."""
    cfg = offline_config(NEU_DET / NEU_STUDENT)
    torch.manual_seed(0)
    model = build_model(cfg)
    batch = tiny_batch(cfg)
    sample = batch['data_samples'][0]
    sample.ignored_instances = sample.gt_instances[:1].clone()
    sample.gt_instances = sample.gt_instances[1:]
    data = preprocess(model, batch)
    with torch.no_grad():
        ignored = model(**data, mode='loss')
        data['data_samples'][0].ignored_instances = sample.ignored_instances[:0]
        dropped = model(**data, mode='loss')
    assert float(ignored['loss_obj']) != pytest.approx(float(dropped['loss_obj']))


def _with_distiller(name: str) -> Config:
    return offline_config(NEU_DET / name)


def test_yolov5_output_kd_without_the_teachers_head_is_refused():
    cfg = _with_distiller('kd-yolov5_yolov5_s_yolov5_n_scratch_neu_det.py')
    cfg.model.teacher_runs = 'extract_feat'
    with pytest.raises(ValueError) as info:
        build_model(cfg)
    message = str(info.value)
    assert 'model.distiller.teacher_recorders.head_outputs' in message
    assert "teacher_runs='tensor'" in message


def test_yolov5_output_kd_on_a_head_that_is_not_yolov5s_is_refused():
    """RTMDet's head never calls YOLOv5Head.forward: the error names the class and the model."""
    from mgd.models import yolov5_kd_distiller

    cfg = offline_config(COCO / 'mgd_rtmdet_s_rtmdet_tiny_300e_coco.py')
    head = _with_distiller(NEU_STUDENT).model.bbox_head
    cfg.model.teacher_runs = 'tensor'
    cfg.model.distiller.merge(yolov5_kd_distiller(head))
    with pytest.raises(ValueError) as info:
        build_model(cfg)
    message = str(info.value)
    assert 'model.distiller.student_recorders.head_outputs' in message
    assert "never called: the student has ['RTMDetHead'], which override forward" in message


def test_mgd_on_a_neck_that_does_not_exist_is_refused():
    cfg = _with_distiller('mgd_yolov5_s_yolov5_n_scratch_neu_det.py')
    cfg.model.distiller.student_recorders.feats.source = 'necks'
    with pytest.raises(ValueError) as info:
        build_model(cfg)
    message = str(info.value)
    assert "source 'necks' is not a module of the student (YOLODetector)" in message
    assert "'neck'" in message  # the closest name
