"""Loading a config as the tools do, and the one answer to "which model does it evaluate".

Kept here (not in ``tools/``) so that tests exercise the same code as the tools.
"""

from __future__ import annotations

import argparse
import os.path as osp

from mmengine.config import Config, DictAction

from mgd.utils.cfg_options import check_cfg_options, check_file_variables
from mgd.utils.errors import ConfigError, MissingFileError

__all__ = [
    'add_common_arguments',
    'apply_train_options',
    'config_part',
    'drop_pretrained',
    'load_config',
]


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
    (:func:`mgd.utils.cfg_options.check_cfg_options`), so that a typo is not silently added.
    """
    if not osp.isfile(path):
        raise MissingFileError(f'config {path!r} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options:
        check_file_variables(cfg, cfg_options)
        if not allow_new_keys:
            check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg


def is_pretrained(init_cfg) -> bool:
    if isinstance(init_cfg, list | tuple):
        return any(map(is_pretrained, init_cfg))
    return isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'


def drop_pretrained(node, keep_local: bool = False) -> None:
    """Drops every ``init_cfg`` that loads a checkpoint (the backbone's ImageNet weights, a
    student that starts from a COCO model...); random initialisations stay. With
    ``keep_local``, one that loads an existing local file (a pruned model's weights) stays."""
    if isinstance(node, dict):
        init_cfg = node.get('init_cfg')
        local = (
            keep_local
            and isinstance(init_cfg, dict)
            and osp.isfile(str(init_cfg.get('checkpoint')))
        )
        if is_pretrained(init_cfg) and not local:
            node['init_cfg'] = None
        if isinstance(node.get('pretrained'), str):  # mmseg's segmentors
            node['pretrained'] = None
        node = list(node.values())
    if isinstance(node, list | tuple):
        for child in node:
            drop_pretrained(child, keep_local)


def apply_train_options(cfg: Config, amp: bool = False, resume: str | None = None) -> Config:
    """What ``tools/train.py --amp`` and ``--resume [PATH]`` change in the config.

    Args:
        cfg: the loaded config (changed in place).
        amp: mixed precision through mmengine's ``AmpOptimWrapper`` (dynamic loss scale; the
            config's ``clip_grad`` and optimizer are kept). It needs a CUDA GPU.
        resume: ``'auto'`` (the checkpoint ``work_dir/last_checkpoint`` names) or a path.

    Returns:
        ``cfg``.
    """
    if amp:
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                '--amp needs a CUDA GPU (mmengine runs AmpOptimWrapper on accelerators only); '
                'on the CPU, train without --amp.'
            )
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif resume:
        cfg.resume, cfg.load_from = True, resume
    return cfg


def config_part(path: str, key: str = 'model', **changes):
    """One top-level value (``model``, ...) of another config file (``pkg::`` paths too),
    resolved, with ``changes`` merged in as a child config's keys would be.

    For a config that shares a block with a config that is not its base: mmengine refuses a key
    that two ``_base_`` files both set, so the Mask R-CNN student takes the Faster R-CNN
    config's distillation as ``dict(config_part('{{fileDirname}}/other.py'), architecture=...)``,
    and a NEU-DET YOLOv5 takes mmyolo's model as
    ``config_part('mmyolo::yolov5/...py', bbox_head=dict(head_module=dict(num_classes=6)))``.
    """
    if '::' in path:
        from mmengine.hub import get_config

        part = get_config(path)[key]
    elif not osp.isfile(path):
        raise MissingFileError(f'config {path!r} does not exist')
    else:
        part = Config.fromfile(path)[key]
    if changes:
        part.merge(changes)
    return part
