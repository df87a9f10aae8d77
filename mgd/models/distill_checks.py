"""Model-time checks of MGDDistill: recorder sources and the recorded features' shapes.

* ``check_recorder_sources`` runs when ``MGDDistill`` is built, before mmrazor's recorders hook
  into the models (mmrazor itself only asserts ``"x" is not in the model``).
* ``check_distill_features`` runs in ``MGDDistill.loss`` on the first batch, after both models
  ran and before any distillation loss or backward: shapes only exist once features do (a dry
  forward at build time would cost a forward of both, possibly large, models). Later batches
  are guarded by ``MGDLoss``'s own shape check, which fails on any mismatch.

Both raise ``ValueError`` naming the recorder, loss or layer and what to change.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping

from torch import Tensor, nn

from mgd.models.connectors.mgd_connector import MGDConnector
from mgd.models.losses.mgd_loss import MGDLoss
from mgd.utils.errors import ConfigError

__all__ = ['check_distill_features', 'check_recorder_sources']


def _recorder_kind(recorder_type: object) -> str | None:
    """'module' or 'parameter' for recorders whose ``source`` names one; None otherwise."""
    name = getattr(recorder_type, '__name__', recorder_type)
    if not isinstance(name, str):
        return None
    name = name.rsplit('.', 1)[-1].removesuffix('Recorder')
    if name in ('ModuleOutputs', 'ModuleInputs'):
        return 'module'
    if name in ('MethodOutputs', 'MethodInputs'):
        return 'method'
    return 'parameter' if name == 'Parameter' else None


def _closest(name: str, candidates: list[str], n: int = 5) -> list[str]:
    return difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)


def _teacher_part(teacher: nn.Module, source: str) -> str:
    """The top-level part of a teacher a source lies in (past an ensemble's teacher name)."""
    parts = source.split('.')
    if parts[0] in getattr(teacher, 'names', ()) and len(parts) > 1:
        return parts[1]
    return parts[0]


def _check_method_source(where: str, source: str, which: str, model: nn.Module) -> list[str]:
    """A method recorder records ``package.module.Class.method`` calls: the model must hold
    a module of that class, or the recorder stays empty. Returns the names of those modules."""
    module_path, _, rest = source.rpartition('.')
    module_path, _, class_name = module_path.rpartition('.')
    try:
        cls = getattr(importlib.import_module(module_path), class_name)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(
            f'{where}: source {source!r} is not a method of an importable class '
            "(write it as 'package.module.Class.method')."
        ) from None
    method = rest
    instances = [(n, m) for n, m in model.named_modules() if isinstance(m, cls)]
    # a subclass that overrides the method (mmyolo's RTMDetHead is a YOLOv5Head) never calls it
    found = [
        n for n, m in instances if getattr(type(m), method, None) is getattr(cls, method, None)
    ]
    if instances and not found:
        overriding = sorted({type(m).__name__ for _, m in instances})
        raise ConfigError(
            f'{where}: source {source!r} is never called: the {which} has {overriding}, which '
            f'override {method}. Name the method of its own class.'
        )
    if not found:
        classes = sorted({type(m).__name__ for m in model.children()})
        raise ConfigError(
            f'{where}: source {source!r} is never called: the {which} has no {class_name} '
            f'(its top-level modules are {classes}). Name the forward of its head class.'
        )
    return found


def check_recorder_sources(
    distiller: Mapping, student: nn.Module, teacher: nn.Module, teacher_runs: str = 'tensor'
) -> None:
    """Checks that every recorder ``source`` names a module (or parameter) of its model.

    Args:
        distiller: the ``ConfigurableDistiller`` config (``student_recorders``,
            ``teacher_recorders``).
        student: the built student.
        teacher: the built teacher.
        teacher_runs: how ``MGDDistill`` runs the teacher; with ``'extract_feat'`` only its
            ``backbone`` and ``neck`` run, so a teacher recorder elsewhere would stay empty.

    Raises:
        ValueError: naming the recorder, its source and the closest existing names.
    """
    for which, model in (('student', student), ('teacher', teacher)):
        key = f'{which}_recorders'
        for name, recorder in (distiller.get(key) or {}).items():
            kind = _recorder_kind(recorder.get('type'))
            source = recorder.get('source')
            if kind is None or not isinstance(source, str):
                continue
            where = f'model.distiller.{key}.{name}'
            if kind == 'method':
                found = _check_method_source(where, source, which, model)
                if which == 'teacher' and teacher_runs == 'extract_feat':
                    found = [n for n in found if _teacher_part(teacher, n) in ('backbone', 'neck')]
                    if not found:
                        raise ConfigError(
                            f'{where}: source {source!r} is never run: with teacher_runs='
                            "'extract_feat' the teacher runs only its backbone and neck. Set "
                            "model.teacher_runs='tensor'."
                        )
                continue
            items = model.named_modules() if kind == 'module' else model.named_parameters()
            names = [n for n, _ in items if n]
            if source not in names:
                close = _closest(source, names)
                top = [n for n, _ in model.named_children()]
                hint = f'closest names: {close}' if close else f'its top-level modules: {top}'
                raise ConfigError(
                    f'{where}: source {source!r} is not a {kind} of the {which} '
                    f'({type(model).__name__}); {hint}. Set source to one of the names '
                    f'of `dict({which}.named_{kind}s())`.'
                )
            if (
                which == 'teacher'
                and kind == 'module'
                and teacher_runs == 'extract_feat'
                and _teacher_part(teacher, source) not in ('backbone', 'neck')
            ):
                raise ConfigError(
                    f"{where}: source {source!r} is never run: with teacher_runs='extract_feat' "
                    'the teacher runs only its backbone and neck. Record a backbone/neck module '
                    "or set model.teacher_runs='tensor'."
                )


# --------------------------------------------------------------------------- features


def _recorded_feature(distiller: nn.Module, loss_name: str, spec: Mapping) -> tuple[str, object]:
    """The record ``spec`` points at (before any connector), and a phrase naming it."""
    which = 'student' if spec['from_student'] else 'teacher'
    recorders = distiller.student_recorders if spec['from_student'] else distiller.teacher_recorders
    recorder = recorders.get_recorder(spec['recorder'])
    source = getattr(recorder, 'source', '?')
    record_idx, data_idx = spec.get('record_idx', 0), spec.get('data_idx')
    recorded = type(recorder).__name__.lower()
    what = 'input' if 'inputs' in recorded else 'value' if 'param' in recorded else 'output'
    where = f'{which} feature {spec["recorder"]!r} ({what} of {source!r}'
    where += f', data_idx {data_idx})' if data_idx is not None else ')'
    if record_idx >= len(recorder.data_buffer):
        raise ConfigError(
            f'{loss_name}: the {which} recorder {spec["recorder"]!r} recorded '
            f'{len(recorder.data_buffer)} outputs of {source!r}, record_idx is {record_idx}: '
            f'{source!r} did not run in the forward pass.'
        )
    data = recorder.data_buffer[record_idx]
    if data_idx is not None:
        if not isinstance(data, list | tuple) or data_idx >= len(data):
            count = len(data) if isinstance(data, list | tuple) else 'a single tensor, not a tuple'
            raise ConfigError(
                f'{loss_name}: data_idx {data_idx} is out of range: {source!r} of the {which} '
                f'outputs {count}. Use indices below that (mgd_distiller(feature_indices=...)).'
            )
        data = data[data_idx]
    return where, data


def check_distill_features(distiller: nn.Module) -> None:
    """Checks the recorded features against the MGD connectors and losses that will use them.

    Call it after the teacher and the student ran (the recorders hold their features) and
    before ``distiller.compute_distill_losses()``.

    Raises:
        ValueError: naming the loss, the feature and both channel counts or sizes.
    """

    for loss_name, mapping in distiller.loss_forward_mappings.items():
        shapes = {}
        for arg, spec in mapping.items():
            where, data = _recorded_feature(distiller, loss_name, spec)
            if not isinstance(data, Tensor):
                continue
            shape = tuple(data.shape)
            connector_name = spec.get('connector')
            connector = distiller.connectors[connector_name] if connector_name else None
            if isinstance(connector, MGDConnector):
                if len(shape) != 4 or shape[1] != connector.student_channels:
                    channels = shape[1] if len(shape) > 1 else None
                    raise ConfigError(
                        f'{loss_name}: connector {connector_name!r} expects '
                        f'student_channels={connector.student_channels}, but the {where} '
                        f'has {channels} channels (shape {shape}): set student_channels='
                        f'{channels} (mgd_distiller(student_channels=...)).'
                    )
                shape = (shape[0], connector.teacher_channels, *shape[2:])
                where += f' after connector {connector_name!r}'
            shapes[arg] = (where, shape)
        if not isinstance(distiller.distill_losses[loss_name], MGDLoss):
            continue
        if 'preds_S' not in shapes or 'preds_T' not in shapes:
            continue
        (student_where, student), (teacher_where, teacher) = shapes['preds_S'], shapes['preds_T']
        if len(student) == len(teacher) == 4 and student[1] != teacher[1]:
            connector_name = mapping['preds_S'].get('connector')
            fix = (
                f'set teacher_channels={teacher[1]} in connector {connector_name!r} '
                '(mgd_distiller(teacher_channels=...))'
                if connector_name
                else 'give preds_S a MaskedGenerativeConnector (mgd_distiller does)'
            )
            raise ConfigError(
                f'{loss_name}: the {teacher_where} has {teacher[1]} channels but the '
                f'{student_where} has {student[1]}: {fix}.'
            )
        if student[2:] != teacher[2:]:
            raise ConfigError(
                f'{loss_name}: student and teacher features differ in size: the {student_where} '
                f'is {student}, the {teacher_where} is {teacher}. Distil features of the same '
                'stride (the same FPN level / data_idx in both models).'
            )
