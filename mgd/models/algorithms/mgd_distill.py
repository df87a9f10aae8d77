"""The distillation algorithm: a frozen teacher, a student, and the MGD losses between them."""

from __future__ import annotations

import contextlib
import hashlib

import torch
from mmengine.logging import print_log
from mmrazor.models.algorithms import SingleTeacherDistill
from mmrazor.models.utils import add_prefix
from mmrazor.registry import MODELS
from torch import nn

from mgd.models.algorithms.teacher import build_teacher, head_classes, load_teacher
from mgd.models.algorithms.teacher_cache import (
    VERSION,
    TeacherFeatureCache,
    flip_states,
    uncovered_transform,
)
from mgd.models.algorithms.teacher_ensemble import TeacherEnsemble
from mgd.models.distill_checks import check_distill_features, check_recorder_sources
from mgd.utils.errors import ConfigError

TEACHER_RUNS = ('extract_feat', 'tensor')
TEACHER_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}
# SingleTeacherDistill options that MGD fixes: the teacher is frozen and wholly in eval mode,
# the student trains on its task loss plus the MGD losses. Other values are refused, not ignored.
FIXED_OPTIONS = dict(
    teacher_trainable=False,
    teacher_norm_eval=True,
    student_trainable=True,
    calculate_student_loss=True,
)


def check_ensemble(
    teacher: nn.Module, student: nn.Module, teacher_ckpt: str | None, inherit
) -> None:
    """A ``TeacherEnsemble`` teacher: its teachers' classes must be the student's; each
    teacher's checkpoint is its own ``ckpt``, and there is no single teacher to inherit from."""
    if not isinstance(teacher, TeacherEnsemble):
        return
    if teacher_ckpt:
        raise ConfigError(
            'model.teacher_ckpt is set but the teacher is a TeacherEnsemble: give each teacher '
            'its checkpoint as model.teacher.teachers.NAME.ckpt and remove model.teacher_ckpt.'
        )
    if inherit:
        raise ConfigError(
            f'model.inherit={list(inherit)} needs one teacher to copy from; with a '
            'TeacherEnsemble set inherit=() (or load the modules with init_cfg/load_from).'
        )
    classes = head_classes(student)
    if None not in (classes, teacher.num_classes) and classes != teacher.num_classes:
        raise ConfigError(
            f'the student predicts {classes} classes, the teachers {teacher.num_classes}: '
            'distil from teachers trained on the same classes.'
        )


@MODELS.register_module()
class MGDDistill(SingleTeacherDistill):
    """Single-teacher distillation as MGD does it.

    Compared with mmrazor's ``SingleTeacherDistill``/``FpnTeacherDistill``: the teacher stays
    in eval mode for the whole run (not only its BatchNorms), is never initialised or trained,
    a detector teacher runs backbone+neck only, and ``inherit`` implements MGD's inheriting
    strategy from the same ``teacher_ckpt``.

    Args:
        architecture: the student model config.
        teacher: the teacher model config, or ``dict(cfg_path=...)``, or several teachers
            as ``dict(type='mmrazor.TeacherEnsemble', teachers=dict(NAME=dict(cfg_path=...,
            ckpt=...), ...))`` (recorder sources then start with ``NAME.``).
        distiller: an mmrazor ``ConfigurableDistiller`` config.
        teacher_ckpt: the teacher's checkpoint (path or URL). It loads the teacher and, with
            ``inherit``, the student's neck/head.
        inherit: top-level student modules (e.g. ``('neck', 'bbox_head')``) that start from
            the teacher's weights; tensors whose shapes differ are skipped with a warning.
        teacher_runs: ``'extract_feat'`` (backbone+neck) or ``'tensor'`` (whole network, for
            losses on the teacher's logits).
        teacher_dtype: ``'bf16'`` or ``'fp16'``: the frozen teacher's forward runs under
            autocast in that dtype, whatever the student's precision; ``None`` (default): in
            the run's precision (float32 as in the paper, or AMP's with ``--amp``). The MGD
            loss reads the teacher's features in float32 either way.
        teacher_cache: a folder: the teacher's recorded features of each training image
            (and flip) are computed once, stored there in float16 and read back after
            (:mod:`mgd.models.algorithms.teacher_cache`); runs with the same teacher, data and
            pipeline share it. Used only when ``mgd.TeacherCacheHook`` (in ``mgd_hooks()``)
            finds no random transform but the flip in the training pipeline; else the teacher
            runs live and the log says why. None (default): the teacher runs on every batch.
        teacher_cache_limit_gib: the largest estimated cache size; above it the teacher runs
            live (the log gives the estimate).
        **kwargs: passed to ``BaseAlgorithm`` (``data_preprocessor``, ``init_cfg``), and
            ``teacher_module_inplace`` to ``SingleTeacherDistill``. Its other options
            (``teacher_trainable``, ``teacher_norm_eval``, ``student_trainable``,
            ``calculate_student_loss``) are accepted only with MGD's values (frozen teacher in
            eval mode, student trained on task + MGD losses); any other value is an error.
    """

    def __init__(
        self,
        architecture: dict,
        teacher: dict | nn.Module,
        distiller: dict,
        teacher_ckpt: str | None = None,
        inherit: tuple[str, ...] | list[str] = (),
        teacher_runs: str = 'extract_feat',
        teacher_dtype: str | None = None,
        teacher_cache: str | None = None,
        teacher_cache_limit_gib: float = 10.0,
        **kwargs,
    ) -> None:
        if teacher_runs not in TEACHER_RUNS:
            raise ConfigError(f'teacher_runs must be one of {TEACHER_RUNS}, got {teacher_runs!r}')
        if teacher_dtype is not None and teacher_dtype not in TEACHER_DTYPES:
            raise ConfigError(
                f"model.teacher_dtype must be None (float32), 'bf16' or 'fp16', got "
                f'{teacher_dtype!r}'
            )
        for name, value in FIXED_OPTIONS.items():
            if kwargs.pop(name, value) != value:
                raise ConfigError(
                    f'model.{name} must be {value} for MGDDistill, which always freezes the '
                    'teacher (in eval mode) and trains the student on its task loss plus the '
                    f'MGD losses; remove {name} from the config.'
                )
        # Both models are built first so that the recorders' sources can be checked before
        # mmrazor hooks into them (it only asserts '"x" is not in the model').
        teacher = build_teacher(teacher)
        if isinstance(architecture, dict):
            architecture = MODELS.build(architecture)
        check_ensemble(teacher, architecture, teacher_ckpt, inherit)
        if isinstance(distiller, dict):
            check_recorder_sources(distiller, architecture, teacher, teacher_runs)
        # SingleTeacherDistill would load teacher_ckpt itself; we load it with our checks.
        super().__init__(
            distiller=distiller,
            teacher=teacher,
            architecture=architecture,
            teacher_ckpt=None,
            **kwargs,
        )
        self.teacher_ckpt = teacher_ckpt
        self.inherit = tuple(inherit)
        self.teacher_runs = teacher_runs
        self.teacher_dtype = teacher_dtype
        self._teacher_channels_last = False
        self._features_checked = False
        self.teacher_cache = teacher_cache
        self.teacher_cache_limit_gib = teacher_cache_limit_gib
        self._cache: TeacherFeatureCache | None = None
        self._cache_checked = False
        if teacher_ckpt:
            load_teacher(self.teacher, teacher_ckpt)
        self.teacher.eval()
        self.teacher.requires_grad_(False)

    def init_weights(self) -> None:
        """Initialises the student (and connectors), then inherits from the teacher."""
        super().init_weights()
        if self.inherit:
            self.inherit_from_teacher()

    @torch.no_grad()
    def inherit_from_teacher(self) -> int:
        """Copies the teacher's ``inherit`` modules into the student where shapes match.

        Returns:
            The number of tensors copied.
        """
        if not self.teacher_ckpt:
            print_log(
                'inherit is set but model.teacher_ckpt is not: the student keeps its '
                'own neck/head initialisation.',
                logger='current',
                level=30,
            )
            return 0
        missing = [name for name in self.inherit if not hasattr(self.student, name)]
        if missing:
            top = [name for name, _ in self.student.named_children()]
            raise ConfigError(
                f'inherit names {missing}, which the student does not have; '
                f'its modules are {top}'
            )
        for name in self.inherit:
            student_classes = getattr(getattr(self.student, name), 'num_classes', None)
            teacher_classes = getattr(getattr(self.teacher, name, None), 'num_classes', None)
            if student_classes != teacher_classes and None not in (
                student_classes,
                teacher_classes,
            ):
                raise ConfigError(
                    f"inherit: the student's {name} predicts {student_classes} classes, the "
                    f"teacher's {teacher_classes}: its classifier cannot be inherited. Train "
                    'the teacher on the same classes (and pass it as model.teacher_ckpt), or '
                    f'remove {name!r} from model.inherit.'
                )
        teacher_state = self.teacher.state_dict()
        copied, skipped = 0, []
        for key, value in self.student.state_dict().items():
            if not key.startswith(tuple(f'{name}.' for name in self.inherit)):
                continue
            source = teacher_state.get(key)
            if source is None:
                skipped.append(f'{key} (not in the teacher)')
            elif source.shape != value.shape:
                skipped.append(
                    f'{key} (student {tuple(value.shape)}, teacher {tuple(source.shape)})'
                )
            else:
                value.copy_(source)
                copied += 1
        print_log(
            f'Inheriting strategy: copied {copied} tensors of {list(self.inherit)} from '
            f'the teacher ({self.teacher_ckpt}).',
            logger='current',
        )
        if skipped:
            print_log(
                f'Inheriting strategy skipped {len(skipped)} tensors: {"; ".join(skipped)}',
                logger='current',
                level=30,
            )
        return copied

    def attach_teacher_cache(self, cfg, images: int) -> None:
        """Called by ``mgd.TeacherCacheHook`` before training with the run's config and the
        number of training images: opens ``teacher_cache`` if the training data allow it."""
        self._cache_checked = True
        self._cache = None
        if not self.teacher_cache:
            return
        why = uncovered_transform(cfg.train_dataloader.dataset, cfg.model.get('data_preprocessor'))
        if not why and len(self.distiller.deliveries.deliveries):
            why = 'the distiller delivers teacher outputs to the student, which it does not store'
        if why:
            print_log(
                f'model.teacher_cache is not used: {why}. The teacher runs live.',
                logger='current',
                level=30,
            )
            return
        weights = hashlib.sha256(repr(self.teacher).encode())
        for name, tensor in self.teacher.state_dict().items():
            weights.update(name.encode())
            weights.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
        parts = dict(
            version=VERSION,
            teacher=weights.hexdigest(),
            teacher_runs=self.teacher_runs,
            teacher_dtype=self.teacher_dtype,
            dataset=cfg.train_dataloader.dataset,
            preprocessor=[
                cfg.model.get('data_preprocessor'),
                cfg.model.architecture.get('data_preprocessor'),
            ],
            recorders=cfg.model.distiller.get('teacher_recorders'),
        )
        self._cache = TeacherFeatureCache(
            self.teacher_cache, parts, images, self.teacher_cache_limit_gib,
            flip_states(cfg.train_dataloader.dataset),
        )  # fmt: skip
        print_log(f'model.teacher_cache: {self._cache.root}', logger='current')

    def teacher_cache_report(self) -> str | None:
        """How many images the teacher cache served and how many it computed, since the last
        report (None without a cache)."""
        if self._cache is None:
            return None
        hits, misses = self._cache.hits, self._cache.misses
        self._cache.hits = self._cache.misses = 0
        state = '' if self._cache.enabled else ' (over its size limit: nothing stored)'
        return f'teacher cache: {hits} images read, {misses} computed{state}'

    def _run_teacher(self, inputs: torch.Tensor, data_samples: list | None) -> None:
        if self.teacher_runs == 'extract_feat':
            self.teacher.extract_feat(inputs)
        else:
            self.teacher(inputs, data_samples, mode='tensor')

    def loss(self, batch_inputs: torch.Tensor, data_samples: list | None = None) -> dict:
        """Student task losses (``student.*``) plus one MGD loss per feature (``distill.*``)."""
        if self.teacher_cache and not self._cache_checked:
            raise ConfigError(
                'model.teacher_cache is set, but no mgd.TeacherCacheHook is in custom_hooks to '
                'check the training pipeline first: add it (mgd_hooks() does), or unset '
                'model.teacher_cache.'
            )
        self.distiller.set_deliveries_override(False)
        # the teacher in its own precision, or in the run's (float32, or AMP's with --amp)
        precision = contextlib.nullcontext()
        teacher_inputs = batch_inputs
        if self.teacher_dtype:
            precision = torch.autocast(
                batch_inputs.device.type, dtype=TEACHER_DTYPES[self.teacher_dtype]
            )
            # half-precision convolutions are fastest channels-last (oneDNN on the CPU, tensor
            # cores on a GPU): measured 275 -> 235 ms for the X101 teacher in bf16 on 2 cores
            if not self._teacher_channels_last:
                self.teacher.to(memory_format=torch.channels_last)
                self._teacher_channels_last = True
            teacher_inputs = batch_inputs.contiguous(memory_format=torch.channels_last)
        with (
            self.distiller.teacher_recorders,
            self.distiller.deliveries,
            torch.no_grad(),
            precision,
        ):
            if self._cache is not None and data_samples:
                recorders = self.distiller.teacher_recorders.recorders
                self._cache.fill(recorders, self._run_teacher, teacher_inputs, data_samples)
            else:
                self._run_teacher(teacher_inputs, data_samples)
        self.distiller.set_deliveries_override(True)
        with self.distiller.student_recorders, self.distiller.deliveries:
            student_losses = self.student(batch_inputs, data_samples, mode='loss')
        losses = add_prefix(student_losses, 'student')
        if not self.distillation_stopped:
            if not self._features_checked:  # clear errors before the first loss or backward
                check_distill_features(self.distiller)
                self._features_checked = True
            losses.update(add_prefix(self.distiller.compute_distill_losses(), 'distill'))
        return losses

    def train(self, mode: bool = True) -> MGDDistill:
        """Sets the student's mode; the teacher always stays in eval mode."""
        nn.Module.train(self, mode)
        self.teacher.eval()
        return self
