"""The configs beyond the paper: multi-teacher KD (ImageNet, NEU-CLS) and output KD for
RetinaNet (COCO, NEU-DET): settings, one training step, and the losses they compute."""

from __future__ import annotations

import pytest
from mmengine.config import Config
from test_configs import BEYOND_PAPER
from utils import (
    CONFIGS,
    build_model,
    check_training_step,
    offline_config,
    preprocess,
    tiny_batch,
    training_step,
)

from mgd.models import DenseClsKDLoss

MTKD_IN1K = CONFIGS / 'imagenet/mgd-mtkd_resnet34-resnet50_resnet18_8xb32_in1k.py'
KD_COCO = CONFIGS / 'coco/mgd-kd_fpn_retina_x101_retina_r50_2x_coco.py'
KD_NEU = CONFIGS / 'neu_det/mgd-kd_fpn_retina_r18-w32_retina_r18-w16_scratch_neu_det.py'
NEU_CLS = sorted((CONFIGS / 'neu_cls').glob('*.py'))


def step(path):
    cfg = offline_config(path)
    model = build_model(cfg)
    data = preprocess(model, tiny_batch(cfg))
    return model, training_step(model, data)


def test_beyond_paper_list_names_real_files():
    assert all((CONFIGS / name).is_file() for name in BEYOND_PAPER)
    assert {str(p.relative_to(CONFIGS)) for p in (MTKD_IN1K, KD_COCO)} == set(BEYOND_PAPER)


def test_imagenet_multi_teacher_settings_and_step():
    cfg = Config.fromfile(str(MTKD_IN1K))
    teachers = cfg.model.teacher.teachers
    assert sorted(teachers) == ['r34', 'r50']
    assert all(t.ckpt.startswith('https://download.openmmlab.com/') for t in teachers.values())
    connectors = cfg.model.distiller.connectors
    assert connectors.mgd_r34_backbone0.teacher_channels == 512
    assert connectors.mgd_r50_backbone0.teacher_channels == 2048
    assert {c.student_channels for c in connectors.values()} == {512}
    assert {c.lambda_mgd for c in connectors.values()} == {0.15}
    kd = cfg.model.distiller.distill_losses.loss_kd
    assert (kd.temperature, kd.loss_weight, cfg.model.architecture.head.loss.loss_weight) == (
        4,
        0.5,
        0.5,
    )
    assert cfg.model.teacher_runs == 'tensor'
    model, losses = step(MTKD_IN1K)
    check_training_step(
        model,
        losses,
        {'distill.loss_mgd_r34_backbone0', 'distill.loss_mgd_r50_backbone0', 'distill.loss_kd'},
    )


@pytest.mark.parametrize('path', NEU_CLS, ids=lambda p: p.name)
def test_neu_cls_configs_build_and_step(path):
    cfg = Config.fromfile(str(path))
    if 'train_dataloader' in cfg:
        assert cfg.train_dataloader.dataset.type == 'mgd.NEUCLSDataset'
    if 'model' not in cfg:
        return  # the data config
    model, losses = step(path)
    assert all(v.isfinite().all() for v in losses.values())


@pytest.mark.parametrize('path, classes', [(KD_COCO, 80), (KD_NEU, 6)], ids=['coco', 'neu_det'])
def test_output_kd_on_the_retina_class_scores(path, classes):
    cfg = Config.fromfile(str(path))
    assert cfg.model.teacher_runs == 'tensor'
    kd = cfg.model.distiller.distill_losses.loss_kd_cls
    assert (kd.num_classes, kd.temperature, kd.loss_weight, kd.topk) == (classes, 1, 1, 100)
    model, losses = step(path)
    mgd = {f'distill.loss_mgd_neck{i}' for i in range(5)}
    check_training_step(model, losses, mgd | {'distill.loss_kd_cls'})
    # the loss is DenseClsKDLoss on the class scores both heads produced in this step
    records = [
        manager.get_recorder('head_outputs').data_buffer
        for manager in (model.distiller.student_recorders, model.distiller.teacher_recorders)
    ]
    assert [len(r) for r in records] == [1, 1]  # one head forward each
    student_scores, teacher_scores = records[0][0][0], records[1][0][0]
    assert len(student_scores) == 5 and student_scores[0].shape[1] == 9 * classes
    expected = DenseClsKDLoss(classes, 1, 1, 100)(student_scores, teacher_scores)
    assert losses['distill.loss_kd_cls'].item() == pytest.approx(expected.item(), rel=1e-5)


def test_a_head_class_the_models_lack_is_refused_at_build():
    cfg = offline_config(KD_NEU)
    for which in ('student_recorders', 'teacher_recorders'):
        cfg.model.distiller[which].head_outputs.source = 'mmdet.models.dense_heads.FCOSHead.forward'
    with pytest.raises(ValueError, match=r'student_recorders.head_outputs: .*has no FCOSHead'):
        build_model(cfg)
