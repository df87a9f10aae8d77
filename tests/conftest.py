"""Test-wide setup and the fixtures several folders share.

``import mgd.models`` comes first, so the stack fixes apply before mmrazor is imported.
"""

import mgd.models  # noqa: F401

# isort: split

from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from utils import DEMO_MGD, DEMO_TEACHER, data_options

from mgd.analysis.offline import build_offline
from mgd.datasets.converters.synthetic import make_demo_data


@pytest.fixture
def one_thread():
    """One intra-op thread (``pytestmark = pytest.mark.usefixtures('one_thread')``): on a
    loaded 2-core machine, torch's default (one per core) made the training-step tests 10x
    slower (threads waiting for each other)."""
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
    teacher = build_offline(Config.fromfile(str(DEMO_TEACHER)))
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
