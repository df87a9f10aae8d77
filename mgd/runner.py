"""What ``tools/train.py`` and ``tools/test.py`` share: config loading and the launch setup.

Kept here (not in ``tools/``) so that tests exercise the same code as the tools.
"""

from __future__ import annotations

import argparse
import os
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction

from mgd.checks import check_cfg_options

__all__ = ['add_common_arguments', 'load_config', 'setup_launcher']


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds what ``tools/train.py`` and ``tools/test.py`` share; ``config`` comes first."""
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='output folder (default: work_dirs/<config name>)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. model.teacher_ckpt=/path/teacher.pth',
    )
    parser.add_argument(
        '--allow-new-keys',
        action='store_true',
        help='let --cfg-options add keys that the config does not have',
    )
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(
    path: str,
    cfg_options: dict | None = None,
    work_dir: str | None = None,
    allow_new_keys: bool = False,
) -> Config:
    """Reads a config, applies ``--cfg-options`` and sets ``work_dir``.

    The default work dir is ``work_dirs/<config name>`` as in every OpenMMLab tool. Unless
    ``allow_new_keys``, ``cfg_options`` keys that the config does not have are refused
    (``mgd.checks.check_cfg_options``), so that a typo is not silently added as a new key.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config {path!r} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options:
        if not allow_new_keys:
            check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg


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
