"""Building a frozen teacher and loading its checkpoint, with the checks that name the key:
used by ``MGDDistill`` (one teacher) and ``TeacherEnsemble`` (each of its teachers)."""

from __future__ import annotations

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmrazor.registry import MODELS
from torch import nn

from mgd.utils.checkpoint import read_state_dict
from mgd.utils.errors import ConfigError

HEADS = ('head', 'bbox_head', 'decode_head')


def head_classes(model: nn.Module) -> int | None:
    """The number of classes a built model's head predicts, or None if it has no such head."""
    for name in HEADS:
        classes = getattr(getattr(model, name, None), 'num_classes', None)
        if isinstance(classes, int):
            return classes
    return None


def _modules(keys: list[str], depth: int = 2) -> str:
    """Where ``keys`` are, by module (their first ``depth`` name parts), with counts."""
    counts: dict[str, int] = {}
    for key in keys:
        module = '.'.join(key.split('.')[:depth])
        counts[module] = counts.get(module, 0) + 1
    shown = sorted(counts.items(), key=lambda kv: -kv[1])[:4]
    more = f' and {len(counts) - 4} more modules' if len(counts) > 4 else ''
    return ', '.join(f'{m} ({n})' for m, n in shown) + more


def load_teacher(teacher: nn.Module, path: str, what: str = 'model.teacher_ckpt') -> None:
    """Loads ``path`` into ``teacher``; refuses a checkpoint that does not fit it.

    ``what`` names the config key in messages.

    Raises:
        ValueError: no parameter name matches, a matching tensor has another shape, or the
            checkpoint lacks tensors of the teacher (BatchNorm batch counters aside) or holds
            tensors it does not have: the checkpoint of another model.
    """
    state_dict = read_state_dict(path, what)
    own = teacher.state_dict()
    matched = [k for k in state_dict if k in own]
    if not matched:
        raise ConfigError(
            f"{what} {path!r} matches none of the teacher's parameter names "
            f'(checkpoint has e.g. {list(state_dict)[:3]}, the teacher e.g. {list(own)[:3]}): '
            'is it the checkpoint of this teacher config?'
        )
    wrong = [
        f'{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}'
        for k in matched
        if state_dict[k].shape != own[k].shape
    ]
    if wrong:
        raise ConfigError(
            f'{what} {path!r} does not fit the teacher config; shapes differ '
            f'(checkpoint vs teacher): {"; ".join(wrong[:5])}'
        )
    missing = [k for k in own if k not in state_dict]
    extra = [k for k in state_dict if k not in own]
    if len(missing) > len(own) / 2:
        raise ConfigError(
            f'{what} {path!r} holds only {len(own) - len(missing)} of the '
            f"teacher's {len(own)} tensors (missing e.g. {missing[:3]}): most of the teacher "
            'would stay randomly initialised. Is it the checkpoint of this teacher config '
            '(model.teacher.cfg_path)?'
        )
    # BatchNorm's batch counters do not change what the teacher computes
    lost = [k for k in missing if not k.endswith('num_batches_tracked')]
    if lost or extra:
        parts = []
        if lost:
            parts.append(
                f'lacks {len(lost)} of its tensors, in {_modules(lost)}: they would stay randomly '
                'initialised'
            )
        if extra:
            parts.append(
                f'holds {len(extra)} tensors the teacher does not have, in {_modules(extra)}'
            )
        raise ConfigError(
            f'{what} {path!r} {" and ".join(parts)}. Is it the checkpoint of this teacher '
            "config (another depth or layout, or another teacher's)?"
        )
    if missing:
        print_log(
            f'teacher checkpoint lacks {len(missing)} tensors, e.g. {missing[:3]}',
            logger='current',
            level=30,
        )
    teacher.load_state_dict(state_dict, strict=False)


def build_teacher(teacher: dict | nn.Module) -> nn.Module:
    """Builds the teacher from a model dict, or from ``dict(cfg_path=...)`` naming a config.

    ``cfg_path`` may be ``mmdet::retinanet/xxx.py`` (a config of an installed package) or a
    file path. The teacher is never initialised (no ImageNet download): its weights come only
    from ``teacher_ckpt``.
    """
    if isinstance(teacher, nn.Module):
        return teacher
    teacher = dict(teacher)
    if 'cfg_path' in teacher:
        path = teacher.pop('cfg_path')
        if '::' in path:
            from mmengine.hub import get_config

            cfg = get_config(path)
        else:
            cfg = Config.fromfile(path)
        model_cfg = ConfigDict(cfg.model)
        model_cfg.setdefault('_scope_', cfg.get('default_scope'))
        model_cfg.merge(teacher)  # the remaining keys override the config's (recursively)
        teacher = model_cfg
    model = MODELS.build(teacher)
    model._is_init = True  # skip init_weights: no pretrained backbone is fetched for the teacher
    return model
