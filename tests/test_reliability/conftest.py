"""What the reliability tests share: tiny demo data, a teacher checkpoint, the demo configs."""

from __future__ import annotations

from pathlib import Path

import mgd.models  # noqa: F401  (first: its compat fixes let mmrazor import on torch 2)

# isort: split

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmrazor.registry import MODELS
from torch import nn

from mgd.datasets.converters.synthetic import make_demo_data

REPO = Path(__file__).resolve().parents[2]
DEMO_MGD = REPO / 'configs' / 'demo' / 'mgd_fpn_retina_r18-w32_retina_r18-w16_demo.py'
DEMO_STUDENT = REPO / 'configs' / 'demo' / 'retinanet_r18-w16_demo.py'
DEMO_TEACHER = REPO / 'configs' / 'demo' / 'retinanet_r18-w32_demo.py'


def data_options(root: str | Path) -> dict[str, str]:
    """``--cfg-options`` that point the demo configs at the data in ``root``."""
    root = f'{root}/'
    ann_val = f'{root}annotations/instances_val.json'
    return {
        'train_dataloader.dataset.data_root': root,
        'val_dataloader.dataset.data_root': root,
        'test_dataloader.dataset.data_root': root,
        'val_evaluator.ann_file': ann_val,
        'test_evaluator.ann_file': ann_val,
    }


def build(cfg: Config) -> nn.Module:
    """Builds ``cfg.model`` under the config's scope, initialised (inheriting included)."""
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a loaded 2-core machine, torch's default (one per core) made
    these tests 10x slower (threads waiting for each other)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='session')
def demo_data(tmp_path_factory) -> Path:
    """8 training and 4 validation images of the synthetic NEU-DET look-alike."""
    root = tmp_path_factory.mktemp('demo_data')
    make_demo_data(str(root), 8, 4, seed=0)
    return root


@pytest.fixture(scope='session')
def teacher_ckpt(tmp_path_factory) -> Path:
    """A checkpoint of the demo teacher (random weights) as OpenMMLab tools write it."""
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        teacher = MODELS.build(Config.fromfile(str(DEMO_TEACHER)).model)
    path = tmp_path_factory.mktemp('teacher') / 'teacher.pth'
    torch.save({'state_dict': teacher.state_dict(), 'meta': {'epoch': 12}}, path)
    return path


@pytest.fixture
def mgd_cfg(demo_data, teacher_ckpt) -> Config:
    """The demo MGD config on the tiny data, with the tiny teacher checkpoint."""
    cfg = Config.fromfile(str(DEMO_MGD))
    cfg.merge_from_dict(data_options(demo_data))
    cfg.model.teacher_ckpt = str(teacher_ckpt)
    return cfg


def detection_batch(model: nn.Module, num_classes: int = 6) -> dict:
    """One 96x96 image with 3 boxes, through the model's data preprocessor (training mode)."""
    from mmdet.testing import demo_mm_inputs

    batch = demo_mm_inputs(
        1, [[3, 96, 96]], num_items=[3], num_classes=num_classes, with_mask=False
    )
    return model.data_preprocessor(batch, True)
