"""The one module that knows the shape of an ``MGDDistill`` config and checkpoint: where the
teacher checkpoints are (``model.teacher_ckpt``, or ``model.teacher.teachers.NAME.ckpt`` of
an ensemble), which model a config evaluates (the student, ``model.architecture``), and the
student's tensors in a checkpoint (``architecture.*``).

The tools, the checks before training, the checkpoint loader and the analysis tools ask here
instead of reading these keys themselves.
"""

from __future__ import annotations

import os.path as osp
from collections import OrderedDict
from collections.abc import Iterable

from mmengine.config import Config, ConfigDict

from mgd.utils.errors import ConfigError, MissingFileError

__all__ = [
    'DISTILL_TYPES',
    'STUDENT_PREFIX',
    'distill_to_student',
    'drop_teacher_ckpts',
    'evaluated_model',
    'is_distill_state',
    'is_distillation',
    'student_config',
    'teacher_ckpt_keys',
]

DISTILL_TYPES = ('MGDDistill', 'mmrazor.MGDDistill')
# MGDDistill holds the student as its ``architecture`` module
STUDENT_PREFIX = 'architecture.'


def is_distill_state(keys: Iterable[str]) -> bool:
    """Whether state-dict keys are a distillation model's (its student's ``architecture.*``)."""
    return any(key.startswith(STUDENT_PREFIX) for key in keys)


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
            raise MissingFileError(f'config {cfg!r} does not exist')
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


def distill_to_student(checkpoint: dict) -> dict:
    """Keeps only the student (``architecture.*``) of a distillation checkpoint.

    Returns:
        ``{'state_dict': ..., 'meta': ...}`` that loads into the stock student config.
    """
    state_dict = checkpoint.get('state_dict', checkpoint)
    student = OrderedDict(
        (k[len(STUDENT_PREFIX) :], v) for k, v in state_dict.items() if k.startswith(STUDENT_PREFIX)
    )
    if not student:
        raise ConfigError('no "architecture.*" tensors: this is not an mgd distillation checkpoint')
    meta = {
        k: v
        for k, v in checkpoint.get('meta', {}).items()
        if k in ('dataset_meta', 'epoch', 'iter')
    }
    return {'state_dict': student, 'meta': meta}
