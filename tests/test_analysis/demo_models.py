"""The demo configs and tiny checkpoints of them that the analysis tests use (no trained run).

The fixtures live here, not in a ``conftest.py``: other test folders import their own
``conftest`` by name, and a second ``conftest`` module would shadow theirs. Test modules
load this one with ``pytest_plugins = ['demo_models']``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import mgd.models  # noqa: F401  (stack fixes; registers the MGD classes)
from mgd.datasets.metainfo import NEU_DET_CLASSES as CLASSES

REPO = Path(__file__).resolve().parents[2]
TEACHER_CFG = str(REPO / 'configs/demo/retinanet_r18-w32_demo.py')
STUDENT_CFG = str(REPO / 'configs/demo/retinanet_r18-w16_demo.py')
MGD_CFG = str(REPO / 'configs/demo/mgd_fpn_retina_r18-w32_retina_r18-w16_demo.py')


def save(state_dict: dict, path: Path) -> str:
    """Writes a checkpoint the way mmengine's CheckpointHook lays it out."""
    meta = {'epoch': 1, 'iter': 2, 'dataset_meta': {'classes': CLASSES}}
    torch.save({'state_dict': state_dict, 'meta': meta}, path)
    return str(path)


@pytest.fixture(scope='session')
def demo_checkpoints(tmp_path_factory) -> dict[str, str]:
    """``teacher``: a plain checkpoint of the demo teacher; ``mgd``: a distillation checkpoint
    (``architecture.*`` student, plus teacher and connector tensors that must be ignored)
    whose classifier bias is high, so that the student detects boxes everywhere."""
    folder = tmp_path_factory.mktemp('checkpoints')
    torch.manual_seed(0)
    from mgd.analysis.models import build_model

    teacher = build_model(TEACHER_CFG, init_weights=False)
    student = build_model(MGD_CFG, init_weights=False)
    with torch.no_grad():
        student.bbox_head.retina_cls.bias.fill_(3.0)  # sigmoid(3) = 0.95 at every anchor
    distill = {f'architecture.{k}': v for k, v in student.state_dict().items()}
    distill['teacher.backbone.conv1.weight'] = teacher.backbone.conv1.weight
    distill['distiller.connectors.loss_mgd_neck0.generation.0.weight'] = torch.zeros(64, 64, 3, 3)
    return {
        'teacher': save(teacher.state_dict(), folder / 'teacher.pth'),
        'mgd': save(distill, folder / 'mgd.pth'),
    }


@pytest.fixture(scope='session')
def image_dir(tmp_path_factory) -> Path:
    """Two 120x90 (W x H) noise JPEGs: the demo pipeline resizes them to 256x192."""
    import mmcv

    folder = tmp_path_factory.mktemp('images')
    generator = np.random.default_rng(0)
    for name in ('a.jpg', 'b.png'):
        mmcv.imwrite(generator.integers(0, 256, (90, 120, 3), dtype=np.uint8), str(folder / name))
    (folder / 'notes.txt').write_text('not an image')
    return folder
