"""Distributed launch set-up shared by ``tools/train.py`` and ``tools/test.py``."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from mmengine.config import Config

__all__ = ['setup_launcher']


def setup_launcher(cfg: Config, launcher: str) -> None:
    """Prepares ``cfg`` for ``launcher``; without CUDA, runs distributed on gloo.

    mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device`` even for gloo, and its DDP
    wrapper passes ``device_ids=[LOCAL_RANK]``, which DDP rejects for a CPU module. So on a
    machine without CUDA we create the gloo process group ourselves (mmengine then keeps it)
    and wrap the model without ``device_ids``.
    """
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher == 'slurm':  # torchrun sets these; srun sets SLURM_* only
        os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
        os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
        os.environ.setdefault('LOCAL_RANK', os.environ['SLURM_LOCALID'])
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.env_cfg = dict(cfg.get('env_cfg', {}), dist_cfg=dict(backend='gloo'))
    cfg.model_wrapper_cfg = dict(
        cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel'), device_ids=None
    )
