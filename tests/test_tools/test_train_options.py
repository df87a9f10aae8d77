"""What ``tools/train.py --amp`` and ``--resume [PATH]`` put into the config."""

import pytest
import torch
from mmengine.config import Config

from mgd.utils.config import apply_train_options, load_config

DEMO_MGD = 'configs/demo/mgd_fpn_retina_r18-w32_retina_r18-w16_demo.py'


@pytest.fixture
def cfg(request) -> Config:
    return load_config(str(request.config.rootpath / DEMO_MGD))


def test_amp_wraps_the_optimizer_and_keeps_its_settings(cfg, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    before = dict(cfg.optim_wrapper)
    apply_train_options(cfg, amp=True)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.optimizer == before['optimizer']
    assert cfg.optim_wrapper.clip_grad == before['clip_grad'] == dict(max_norm=10, norm_type=2)
    cfg.optim_wrapper.loss_scale = 512.0
    assert apply_train_options(cfg, amp=True).optim_wrapper.loss_scale == 512.0  # user's kept


def test_amp_without_a_gpu_says_so(cfg, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(ValueError, match='--amp needs a CUDA GPU'):
        apply_train_options(cfg, amp=True)
    assert cfg.optim_wrapper.type == 'OptimWrapper'


@pytest.mark.parametrize(
    'resume, expected',
    [(None, (False, None)), ('auto', (True, None)), ('w/epoch_4.pth', (True, 'w/epoch_4.pth'))],
)
def test_resume(cfg, resume, expected):
    apply_train_options(cfg, resume=resume)
    assert (cfg.get('resume', False), cfg.get('load_from')) == expected
