"""Several frozen teachers run as one teacher of ``MGDDistill``."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from mmengine.model import BaseModel
from mmrazor.registry import MODELS
from torch import Tensor, nn

from mgd.models.algorithms.teacher import build_teacher, head_classes, load_teacher
from mgd.utils.errors import ConfigError


@MODELS.register_module()
class TeacherEnsemble(BaseModel):
    """Teachers, each with its own config and checkpoint, run one after the other.

    Used as ``MGDDistill``'s ``teacher``; each teacher is a child module named by its key,
    so recorders reach it as ``NAME.backbone``, ``NAME.head.fc``, ... When every teacher's
    ``mode='tensor'`` output is one tensor (classifiers' logits), the ensemble also passes
    them, stacked M×N×K in the order given, through its ``stacked_logits`` module, for a
    recorder of all the teachers' logits at once (``MultiTeacherKDLoss``).

    Args:
        teachers: ``{name: dict(cfg_path=..., ckpt=..., **overrides)}`` (or a model config
            with ``type`` instead of ``cfg_path``). ``ckpt`` is loaded with the same checks
            as ``MGDDistill``'s ``teacher_ckpt``.

    Raises:
        ValueError: no teacher, a name that is not a plain identifier, or teachers whose heads
            predict different numbers of classes.
    """

    def __init__(self, teachers: Mapping[str, Mapping]) -> None:
        super().__init__()
        if not isinstance(teachers, Mapping) or not teachers:
            raise ConfigError(
                'model.teacher.teachers must map names to teacher configs, e.g. '
                f'dict(r34=dict(cfg_path=..., ckpt=...)); got {teachers!r}'
            )
        self.names = list(teachers)
        for name, spec in teachers.items():
            if not name.isidentifier() or hasattr(self, name) or name == 'stacked_logits':
                raise ConfigError(
                    f'model.teacher.teachers: {name!r} cannot name a teacher (recorders reach '
                    "it as NAME.module): use a plain identifier such as 'r34'."
                )
            spec = dict(spec)
            ckpt = spec.pop('ckpt', None)
            model = build_teacher(spec)
            if ckpt:
                load_teacher(model, ckpt, f'model.teacher.teachers.{name}.ckpt')
            self.add_module(name, model)
        classes = {name: head_classes(getattr(self, name)) for name in self.names}
        if len({c for c in classes.values() if c is not None}) > 1:
            raise ConfigError(
                f'model.teacher.teachers predict different numbers of classes ({classes}): '
                'their outputs cannot be averaged. Give every teacher the same classes '
                '(its head.num_classes) and a checkpoint trained on them.'
            )
        self.num_classes = next((c for c in classes.values() if c is not None), None)
        self.stacked_logits = nn.Identity()
        self._is_init = True  # teachers are never initialised: weights come from their ckpt

    def teachers(self) -> list[nn.Module]:
        return [getattr(self, name) for name in self.names]

    def extract_feat(self, inputs: Tensor) -> list:
        """Each teacher's ``extract_feat`` (backbone, and neck where there is one)."""
        return [teacher.extract_feat(inputs) for teacher in self.teachers()]

    def forward(self, inputs: Tensor, data_samples: list | None = None, mode: str = 'tensor'):
        """Each teacher's ``mode='tensor'`` output, in the order of ``names``."""
        if mode != 'tensor':
            raise ConfigError(
                f"TeacherEnsemble runs its teachers in mode='tensor' only, not {mode!r}"
            )
        outputs = [teacher(inputs, data_samples, mode='tensor') for teacher in self.teachers()]
        if all(isinstance(out, Tensor) for out in outputs) and (
            len({out.shape for out in outputs}) == 1
        ):
            self.stacked_logits(torch.stack(outputs))
        return outputs
