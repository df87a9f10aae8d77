"""Loading a config as the tools do, and the one answer to "which model does it evaluate".

Kept here (not in ``tools/``) so that tests exercise the same code as the tools.
"""

from __future__ import annotations

import argparse
import os.path as osp

from mmengine.config import Config, ConfigDict, DictAction

from mgd.utils.cfg_options import check_cfg_options

__all__ = [
    'DISTILL_TYPES',
    'add_common_arguments',
    'apply_contrast_enhancement',
    'apply_train_options',
    'drop_teacher_ckpts',
    'evaluated_model',
    'is_distillation',
    'load_config',
    'student_config',
    'teacher_ckpt_keys',
]

DISTILL_TYPES = ('MGDDistill', 'mmrazor.MGDDistill')


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
        raise FileNotFoundError(f'config {path!r} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options and 'lambda_kd' in cfg_options:
        # a config variable, used when the file was read: overriding it afterwards changes nothing
        raise ValueError(
            '--cfg-options lambda_kd=... would change nothing: the config used it when it was '
            'read. Set both weights instead: model.distiller.distill_losses.loss_kd.loss_weight=L '
            'model.architecture.head.loss.loss_weight=1-L (or edit lambda_kd in the file).'
        )
    if cfg_options:
        if not allow_new_keys:
            check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(path))[0])
    apply_contrast_enhancement(cfg)
    return cfg


LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _pipelines(dataset) -> list[list]:
    """The ``pipeline`` lists of a dataset config, through wrappers (``dataset``/``datasets``)."""
    if not isinstance(dataset, dict):
        return []
    found = [dataset['pipeline']] if isinstance(dataset.get('pipeline'), list) else []
    inner = [dataset.get('dataset'), *(dataset.get('datasets') or [])]
    return found + [p for d in inner for p in _pipelines(d)]


def apply_contrast_enhancement(cfg: Config) -> None:
    """Inserts ``mgd.ContrastEnhance`` after ``LoadImageFromFile`` in every dataloader's
    pipeline when the config's top-level ``contrast_enhancement`` is set.

    ``contrast_enhancement``: None (off), ``'hist_eq'``, ``'clahe'``, or a dict of
    ``ContrastEnhance`` arguments (``dict(method='clahe', clip_limit=3.0)``).

    Raises:
        ValueError: a pipeline without ``LoadImageFromFile`` (nothing to enhance after).
    """
    setting = cfg.get('contrast_enhancement')
    if not setting:
        return
    transform = dict(setting) if isinstance(setting, dict) else dict(method=setting)
    transform['type'] = 'mgd.ContrastEnhance'
    for loader in LOADERS:
        for pipeline in _pipelines((cfg.get(loader) or {}).get('dataset')):
            if any(str(t.get('type', '')).endswith('ContrastEnhance') for t in pipeline):
                continue
            loads = [i for i, t in enumerate(pipeline) if 'LoadImageFrom' in str(t.get('type'))]
            if not loads:
                raise ValueError(
                    f'contrast_enhancement is set, but the {loader} pipeline has no '
                    'LoadImageFromFile to insert it after: add the transform by hand '
                    "(dict(type='mgd.ContrastEnhance', method=...)) where the image is loaded."
                )
            pipeline.insert(loads[0] + 1, ConfigDict(transform))


def is_distillation(cfg: Config) -> bool:
    """Whether ``cfg.model`` is an ``MGDDistill`` (else a plain model config)."""
    return isinstance(cfg.get('model'), dict) and cfg.model.get('type') in DISTILL_TYPES


def evaluated_model(cfg: Config) -> tuple[str, dict]:
    """The model a config trains and evaluates: the student of a distillation config.

    Returns:
        ``(key, model config)``: ``('model.architecture', ...)`` for a distillation config,
        else ``('model', ...)``.
    """
    if is_distillation(cfg):
        return 'model.architecture', cfg.model.architecture
    return 'model', cfg.model


def is_pretrained(init_cfg) -> bool:
    if isinstance(init_cfg, list | tuple):
        return any(map(is_pretrained, init_cfg))
    return isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'


def teacher_ckpt_keys(model: dict) -> dict[str, str | None]:
    """Each teacher checkpoint of a distillation model config, by its key.

    ``{'model.teacher_ckpt': ...}`` for one teacher; for a ``TeacherEnsemble``,
    ``{'model.teacher.teachers.NAME.ckpt': ...}`` per teacher. Empty for a plain model.
    """
    if 'teacher' not in model:
        return {}
    teachers = model['teacher'].get('teachers') if isinstance(model['teacher'], dict) else None
    if isinstance(teachers, dict):
        return {
            f'model.teacher.teachers.{name}.ckpt': spec.get('ckpt')
            for name, spec in teachers.items()
        }
    return {'model.teacher_ckpt': model.get('teacher_ckpt')}


def drop_teacher_ckpts(model: dict) -> None:
    """Unsets every teacher checkpoint of ``model`` (one teacher's, or each of an ensemble's):
    the teacher keeps its random weights (or, in a test, the checkpoint's)."""
    for key in teacher_ckpt_keys(model):
        if key == 'model.teacher_ckpt':
            model['teacher_ckpt'] = None
        else:
            model['teacher']['teachers'][key.split('.')[3]]['ckpt'] = None


def drop_pretrained(node) -> None:
    """Drops every ``init_cfg`` that loads a checkpoint (the backbone's ImageNet weights, a
    student that starts from a COCO model...); random initialisations stay."""
    if isinstance(node, dict):
        if is_pretrained(node.get('init_cfg')):
            node['init_cfg'] = None
        if isinstance(node.get('pretrained'), str):  # mmseg's segmentors
            node['pretrained'] = None
        node = list(node.values())
    if isinstance(node, list | tuple):
        for child in node:
            drop_pretrained(child)


def student_config(cfg: Config | str) -> Config:
    """A copy of ``cfg`` whose ``model`` is the model the config evaluates.

    For a distillation config that is the student, with the distiller's (or the config's
    top-level) ``data_preprocessor`` when the student has none, the way mmengine's Runner
    hands it over. The student's backbone ``init_cfg`` is dropped: the weights come from a
    checkpoint, and no pretrained file is downloaded.

    Args:
        cfg: a config or its path.

    Returns:
        The new config; ``cfg`` is left as it was.
    """
    if isinstance(cfg, str):
        if not osp.isfile(cfg):
            raise FileNotFoundError(f'config {cfg!r} does not exist')
        cfg = Config.fromfile(cfg)
    cfg = cfg.copy()
    model = ConfigDict(evaluated_model(cfg)[1])
    if model.get('data_preprocessor') is None:
        preprocessor = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor')
        if preprocessor is not None:
            model.data_preprocessor = preprocessor
    if isinstance(model.get('backbone'), dict):
        model.backbone.init_cfg = None
    cfg.model = model
    return cfg


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
            raise ValueError(
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
