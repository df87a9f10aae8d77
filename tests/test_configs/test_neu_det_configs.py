"""The NEU-DET configs: each loads, the detectors and MGD build and take one training step."""

import os.path as osp
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DATASETS
from utils import (
    build_model,
    check_training_step,
    is_distillation,
    offline_config,
    preprocess,
    student_loss_keys,
    tiny_batch,
    training_step,
)

from mgd.datasets.metainfo import NEU_DET_CLASSES

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / 'configs' / 'neu_det')
DATASET = 'neu_det_detection.py'
STUDENT = 'retinanet_r50_fpn_36e_neu_det.py'
TEACHER = 'retinanet_r101_fpn_36e_neu_det.py'
MGD = 'mgd_fpn_retina_r101_retina_r50_36e_neu_det.py'
COCO_CKPT = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/{0}/{0}_{1}.pth'


def load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name))


@pytest.mark.parametrize('name', [DATASET, STUDENT, TEACHER, MGD])
def test_config_loads_with_neu_det_data(name):
    cfg = load(name)
    assert cfg.data_root == 'data/neu_det/'
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        assert dataset.type == 'mgd.NEUDETDataset' and dataset.data_prefix == dict(img='images/')
        assert dataset.ann_file == f'annotations/instances_{split}.json'
        assert 'metainfo' not in dataset  # the classes come with the dataset class
        assert DATASETS.get(dataset.type).METAINFO['classes'] == NEU_DET_CLASSES
    assert cfg.train_dataloader.batch_size == 8
    assert cfg.val_evaluator.type == 'CocoMetric' and cfg.val_evaluator.metric == 'bbox'


@pytest.mark.parametrize(
    'name, depth, checkpoint',
    [
        (STUDENT, 50, COCO_CKPT.format('retinanet_r50_fpn_2x_coco', '20200131-fdb43119')),
        (TEACHER, 101, COCO_CKPT.format('retinanet_r101_fpn_2x_coco', '20200131-5560aee8')),
    ],
)
def test_detector_schedule(name, depth, checkpoint):
    cfg = load(name)
    assert cfg.model.backbone.depth == depth and cfg.model.bbox_head.num_classes == 6
    assert cfg.load_from == checkpoint
    assert cfg.train_cfg.max_epochs == 36
    assert cfg.optim_wrapper.optimizer.lr == 0.001
    assert cfg.auto_scale_lr.base_batch_size == 8
    step = cfg.param_scheduler[1]
    assert step.type == 'MultiStepLR' and step.milestones == [24, 33] and step.gamma == 0.1


def test_mgd_config_values():
    cfg = load(MGD)
    model = cfg.model
    assert model.type == 'mmrazor.MGDDistill' and model.inherit == ('neck', 'bbox_head')
    assert model.teacher_ckpt == 'work_dirs/retinanet_r101_fpn_36e_neu_det/epoch_36.pth'
    # mmengine substituted {{fileDirname}}: the teacher config is found from any directory
    assert model.teacher.cfg_path == osp.join(CONFIG_DIR, TEACHER)
    losses = model.distiller.distill_losses
    assert sorted(losses) == [f'loss_mgd_neck{i}' for i in range(5)]
    assert {loss.alpha_mgd for loss in losses.values()} == {2e-5}
    connectors = model.distiller.connectors.values()
    assert {c.lambda_mgd for c in connectors} == {0.65}
    assert not any(c.mask_on_channel for c in connectors)
    assert model.architecture.backbone.depth == 50
    assert model.architecture.init_cfg.checkpoint == load(STUDENT).load_from
    assert cfg.load_from is None
    assert cfg.optim_wrapper.optimizer.lr == 0.001
    assert cfg.val_cfg.type == 'mmrazor.SingleTeacherDistillValLoop'
    # the helpers of the config file do not leak into the config
    assert not {'student', 'teacher_ckpt', 'mgd_distiller'} & set(cfg.keys())


def train_one_step(name: str, **model_overrides):
    """Builds a config offline (tests/utils.py) and takes one loss step on a tiny batch."""
    cfg = offline_config(osp.join(CONFIG_DIR, name), **model_overrides)
    if is_distillation(cfg):
        cfg.model.architecture.init_cfg = None  # the COCO R50 checkpoint: a download
    torch.manual_seed(0)
    model = build_model(cfg)
    data = preprocess(model, tiny_batch(cfg))
    losses = training_step(model, data)
    return model, data, losses


@pytest.mark.parametrize('name', [STUDENT, TEACHER])
def test_detector_builds_and_trains_one_step(name):
    model, data, losses = train_one_step(name)
    check_training_step(model, losses, distill_keys=set())
    assert set(losses) == {'loss_cls', 'loss_bbox'}
    assert model.bbox_head.retina_cls.out_channels == 9 * 6  # 9 anchors x 6 classes


def test_mgd_builds_and_trains_one_step():
    model, data, losses = train_one_step(MGD)
    assert model.teacher.backbone.depth == 101 and model.student.backbone.depth == 50
    check_training_step(model, losses, {f'distill.loss_mgd_neck{i}' for i in range(5)})
    assert student_loss_keys(model, data) <= set(losses)
    assert all(float(losses[f'distill.loss_mgd_neck{i}']) > 0 for i in range(5))
