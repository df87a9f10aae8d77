"""Checks that turn bad input into an error naming the key, layer or file, before training.

When each check runs:

* ``check_cfg_options``: when the config is loaded (``mgd.runner.load_config``), before
  anything is built: ``--cfg-options`` keys that the config does not have (a typo).
* ``check_data`` and ``check_resume``: in ``tools/train.py``/``tools/test.py`` right after
  the config is loaded, from the config alone (no dataset is built): missing or empty
  annotation files and image folders, classes that do not match the model's
  ``num_classes``, a ``last_checkpoint`` naming a file that is gone.
* ``check_recorder_sources``: when ``MGDDistill`` is built, before mmrazor's recorders hook
  into the models (mmrazor itself only asserts ``"x" is not in the model``).
* ``check_distill_features``: in ``MGDDistill.loss`` on every batch, after both models ran
  and before any distillation loss or backward. Shapes are only known once features exist:
  a dry forward at build time would cost a forward pass of both (possibly large) models, and
  a Hook would need one too or could only look after the losses. Inside ``loss`` the check
  is shape arithmetic (about 60 µs for the demo's 5 losses, against 27 ms for its loss
  forward on a CPU), and feature sizes depend on the batch (padding), so it runs on every
  batch rather than only the first.

Every check raises ``ValueError`` (``FileNotFoundError`` for files) with what to change.
"""

from __future__ import annotations

import difflib
import inspect
import json
import os.path as osp
from collections.abc import Iterator, Mapping

from mmengine.config import Config
from torch import Tensor, nn

from mgd.checkpoint import last_checkpoint

__all__ = [
    'check_cfg_options',
    'check_data',
    'check_distill_features',
    'check_recorder_sources',
    'check_resume',
]

ALLOW_NEW_KEYS_HINT = 'If the key is new on purpose, pass --allow-new-keys.'
# Top-level keys that mmengine's Runner reads although they are not arguments of Runner.
RUNNER_EXTRA_KEYS = {
    'activation_checkpointing',
    'compile',
    'efficient_conv_bn_eval',
    'find_unused_parameters',
    'model_wrapper_cfg',
    'runner_type',
    'sync_bn',
}
# Arguments of the untyped top-level dicts that mmengine's Runner builds or reads.
DATALOADER_KEYS = {'dataset', 'sampler', 'batch_sampler', 'collate_fn', 'worker_init_fn'}
UNTYPED_ARGUMENTS = {
    'randomness': {'seed', 'deterministic', 'diff_rank_seed'},
    'env_cfg': {'cudnn_benchmark', 'mp_cfg', 'dist_cfg', 'resource_limit'},
    'auto_scale_lr': {'enable', 'base_batch_size'},
}
# JSON annotation files up to this size are parsed to see whether they hold any image.
MAX_PARSED_ANNOTATION_BYTES = 50 * 2**20


# --------------------------------------------------------------------------- recorders


def _recorder_kind(recorder_type: object) -> str | None:
    """'module' or 'parameter' for recorders whose ``source`` names one; None otherwise."""
    name = getattr(recorder_type, '__name__', recorder_type)
    if not isinstance(name, str):
        return None
    name = name.rsplit('.', 1)[-1].removesuffix('Recorder')
    if name in ('ModuleOutputs', 'ModuleInputs'):
        return 'module'
    return 'parameter' if name == 'Parameter' else None


def _closest(name: str, candidates: list[str], n: int = 5) -> list[str]:
    return difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)


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
            items = model.named_modules() if kind == 'module' else model.named_parameters()
            names = [n for n, _ in items if n]
            if source not in names:
                close = _closest(source, names)
                top = [n for n, _ in model.named_children()]
                hint = f'closest names: {close}' if close else f'its top-level modules: {top}'
                raise ValueError(
                    f'{where}: source {source!r} is not a {kind} of the {which} '
                    f'({type(model).__name__}); {hint}. Set source to one of the names '
                    f'of `dict({which}.named_{kind}s())`.'
                )
            if (
                which == 'teacher'
                and kind == 'module'
                and teacher_runs == 'extract_feat'
                and source.split('.')[0] not in ('backbone', 'neck')
            ):
                raise ValueError(
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
        raise ValueError(
            f'{loss_name}: the {which} recorder {spec["recorder"]!r} recorded '
            f'{len(recorder.data_buffer)} outputs of {source!r}, record_idx is {record_idx}: '
            f'{source!r} did not run in the forward pass.'
        )
    data = recorder.data_buffer[record_idx]
    if data_idx is not None:
        if not isinstance(data, list | tuple) or data_idx >= len(data):
            count = len(data) if isinstance(data, list | tuple) else 'a single tensor, not a tuple'
            raise ValueError(
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
    from mgd.models.mgd_connector import MGDConnector
    from mgd.models.mgd_loss import MGDLoss

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
                    raise ValueError(
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
            raise ValueError(
                f'{loss_name}: the {teacher_where} has {teacher[1]} channels but the '
                f'{student_where} has {student[1]}: {fix}.'
            )
        if student[2:] != teacher[2:]:
            raise ValueError(
                f'{loss_name}: student and teacher features differ in size: the {student_where} '
                f'is {student}, the {teacher_where} is {teacher}. Distil features of the same '
                'stride (the same FPN level / data_idx in both models).'
            )


# --------------------------------------------------------------------------- data


def _datasets(dataset: object, path: str) -> Iterator[tuple[str, Mapping]]:
    """The dataset configs inside ``dataset``, through wrappers (Repeat, Concat, ...)."""
    if not isinstance(dataset, Mapping):
        return
    if 'dataset' in dataset:
        yield from _datasets(dataset['dataset'], f'{path}.dataset')
    if 'datasets' in dataset:
        for i, inner in enumerate(dataset['datasets']):
            yield from _datasets(inner, f'{path}.datasets.{i}')
    if 'dataset' not in dataset and 'datasets' not in dataset:
        yield path, dataset


def _is_remote(path: str) -> bool:
    return '://' in path


def _local_path(data_root: str | None, name: str) -> str:
    return name if osp.isabs(name) or not data_root else osp.join(data_root, name)


def _annotation_problems(key: str, ann_file: str, training: bool) -> list[str]:
    """What is wrong with one annotation file, as messages naming the config key."""
    if not osp.isfile(ann_file):
        return [
            f'{key}: annotation file {ann_file!r} does not exist. Fix the path (data_root '
            'and ann_file), or create the data (see the README: data preparation).'
        ]
    size = osp.getsize(ann_file)
    if size == 0:
        return [
            f'{key}: annotation file {ann_file!r} is empty (0 bytes): it was not written '
            'completely; create it again.'
        ]
    if not ann_file.endswith('.json') or size > MAX_PARSED_ANNOTATION_BYTES:
        return []
    try:
        with open(ann_file) as f:
            content = json.load(f)
    except (ValueError, UnicodeDecodeError) as err:
        return [
            f'{key}: annotation file {ann_file!r} is not valid JSON ({err}); create it ' 'again.'
        ]
    if isinstance(content, dict) and 'images' in content:
        if not content['images']:
            return [f'{key}: annotation file {ann_file!r} lists no images.']
        if training and not content.get('annotations'):
            return [
                f'{key}: annotation file {ann_file!r} has no annotations: nothing to ' 'train on.'
            ]
    return []


def _dataset_problems(key: str, dataset: Mapping, training: bool) -> list[str]:
    data_root = dataset.get('data_root')
    if isinstance(data_root, str) and _is_remote(data_root):
        return []
    problems = []
    ann_file = dataset.get('ann_file')
    if isinstance(ann_file, str) and ann_file and not _is_remote(ann_file):
        problems += _annotation_problems(
            f'{key}.ann_file', _local_path(data_root, ann_file), training
        )
    prefix = dataset.get('data_prefix')
    if isinstance(prefix, Mapping):
        prefix = prefix.get('img', prefix.get('img_path'))
    folder = prefix
    if isinstance(folder, str) and folder and not _is_remote(folder):
        folder = _local_path(data_root, folder)
        if not osp.isdir(folder):
            problems.append(
                f'{key}.data_prefix: image folder {folder!r} does not exist. Fix '
                'data_root/data_prefix, or create the data.'
            )
    return problems


def _num_classes_keys(model: Mapping, path: str = '') -> Iterator[tuple[str, int]]:
    """``(key path, value)`` of each ``num_classes`` in the head configs of ``model``."""
    for key, value in model.items():
        sub = f'{path}.{key}' if path else str(key)
        if key == 'num_classes' and isinstance(value, int):
            top = sub.split('.')[0]
            if top in ('bbox_head', 'mask_head', 'roi_head', 'head') and not any(
                part in ('rpn_head', 'semantic_head') for part in sub.split('.')
            ):
                yield sub, value
        elif isinstance(value, Mapping):
            yield from _num_classes_keys(value, sub)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    yield from _num_classes_keys(item, f'{sub}.{i}')


def _dataset_classes(dataset: Mapping, scope: str | None) -> tuple | None:
    """The class names the dataset will have: its ``metainfo`` or its type's default."""
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes is not None:
        return tuple(classes)
    dataset_type = dataset.get('type')
    if isinstance(dataset_type, str):
        from mmengine.registry import DATASETS

        name = dataset_type if '.' in dataset_type or not scope else f'{scope}.{dataset_type}'
        try:
            dataset_type = DATASETS.get(name)
        except Exception:  # an unknown scope or type: the Runner will say so
            return None
    classes = getattr(dataset_type, 'METAINFO', {}).get('classes')
    return tuple(classes) if classes is not None else None


def _class_problems(cfg: Config) -> list[str]:
    model = cfg.get('model')
    loader = cfg.get('train_dataloader')
    if not isinstance(model, Mapping) or not isinstance(loader, Mapping):
        return []
    prefix = 'model'
    if 'architecture' in model and isinstance(model['architecture'], Mapping):
        model, prefix = model['architecture'], 'model.architecture'  # a distiller: the student
    found = list(_datasets(loader.get('dataset'), 'train_dataloader.dataset'))
    if not found:
        return []
    key, dataset = found[0]
    classes = _dataset_classes(dataset, cfg.get('default_scope'))
    if classes is None:
        return []
    return [
        f'{prefix}.{path}={value}, but the training set ({key}) has {len(classes)} classes '
        f"{list(classes)}: set {prefix}.{path}={len(classes)}, or the dataset's "
        'metainfo=dict(classes=...) to the classes the model predicts.'
        for path, value in _num_classes_keys(model)
        if value != len(classes)
    ]


def check_data(cfg: Config, phase: str = 'train') -> None:
    """Checks the data a run will read, from the config alone (no dataset is built).

    Args:
        cfg: the loaded config.
        phase: ``'train'`` (training and validation data, classes vs ``num_classes``) or
            ``'test'`` (test data).

    Raises:
        FileNotFoundError: listing every missing or empty file and folder.
        ValueError: the classes of the training set do not match the model.
    """
    if phase not in ('train', 'test'):
        raise ValueError(f"phase must be 'train' or 'test', got {phase!r}")
    names = ('train', 'val') if phase == 'train' else ('test',)
    problems = []
    for name in names:
        loader = cfg.get(f'{name}_dataloader')
        if isinstance(loader, Mapping):
            for key, dataset in _datasets(loader.get('dataset'), f'{name}_dataloader.dataset'):
                problems += _dataset_problems(key, dataset, training=name == 'train')
        evaluators = cfg.get(f'{name}_evaluator')
        evaluators = [evaluators] if isinstance(evaluators, Mapping) else evaluators or []
        for i, evaluator in enumerate(evaluators):
            ann_file = evaluator.get('ann_file') if isinstance(evaluator, Mapping) else None
            if isinstance(ann_file, str) and ann_file and not _is_remote(ann_file):
                key = f'{name}_evaluator' + (f'.{i}' if len(evaluators) > 1 else '') + '.ann_file'
                problems += _annotation_problems(key, ann_file, training=False)
    if problems:
        raise FileNotFoundError(
            'the config names data that is not there:\n  ' + '\n  '.join(dict.fromkeys(problems))
        )
    if phase == 'train':
        problems = _class_problems(cfg)
        if problems:
            raise ValueError(
                "the model does not predict the dataset's classes:\n  " + '\n  '.join(problems)
            )


def check_teacher_ckpt(cfg: Config) -> None:
    """Refuses to train a distillation config whose teacher has no checkpoint.

    Without one the teacher keeps its random initialisation, and the student would be
    distilled towards noise for the whole run (the official code's most reported failure).
    Resuming is allowed: the checkpoint being resumed holds the teacher.
    """
    model = cfg.get('model', {})
    if 'teacher' in model and not model.get('teacher_ckpt') and not cfg.get('resume'):
        raise ValueError(
            'model.teacher_ckpt is not set, so the teacher would stay randomly initialised. '
            'Train the teacher first or download its checkpoint, then pass '
            '--cfg-options model.teacher_ckpt=/path/to/teacher.pth'
        )


def check_resume(cfg: Config) -> None:
    """With ``resume``, checks that the checkpoint to resume from exists.

    That is ``load_from`` if set (``--resume PATH``), else the file that
    ``<work_dir>/last_checkpoint`` names: mmengine fails late, with a bare "file not found",
    when it was deleted or moved.
    """
    if not cfg.get('resume'):
        return
    load_from = cfg.get('load_from')
    if load_from:
        if not _is_remote(load_from) and not osp.isfile(load_from):
            raise FileNotFoundError(f'--resume: checkpoint {load_from!r} does not exist.')
        return
    target = last_checkpoint(cfg.work_dir)
    if target is None:
        return  # mmengine starts from scratch (and says so): the first run of a job
    pointer = osp.join(cfg.work_dir, 'last_checkpoint')
    if not target or (not _is_remote(target) and not osp.isfile(target)):
        raise FileNotFoundError(
            f'--resume: {pointer} names {target!r}, which does not exist. Pass the checkpoint '
            'to resume from explicitly (--resume work_dir/epoch_N.pth), or delete '
            f'{pointer} to start from scratch.'
        )


# --------------------------------------------------------------------------- cfg options


def _init_arguments(target: object) -> set[str]:
    """The keyword arguments a class (through its ``**kwargs`` parents) or function takes."""
    names: set[str] = set()
    if inspect.isclass(target):
        functions = [k.__dict__['__init__'] for k in target.__mro__ if '__init__' in k.__dict__]
    else:
        functions = [target]
    for function in functions:
        try:
            parameters = inspect.signature(function).parameters.values()
        except (TypeError, ValueError):
            break
        names |= {
            p.name
            for p in parameters
            if p.name != 'self' and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            break
    return names


def _registered(type_name: object, scope: str | None) -> list:
    """The classes/functions ``type_name`` may build, looked up in every mmengine registry."""
    if not isinstance(type_name, str):
        return [type_name] if callable(type_name) else []
    import mmengine.registry as registries
    from mmengine.registry import Registry

    name = type_name if '.' in type_name or not scope else f'{scope}.{type_name}'
    found = []
    for registry in vars(registries).values():
        if isinstance(registry, Registry) and registry.parent is None:
            try:
                target = registry.get(name)
            except Exception:  # another registry's scope that cannot be imported
                target = None
            if target is not None and target not in found:
                found.append(target)
    return found


def _arguments_of(node: Mapping, path: str, scope: str | None) -> tuple[set[str], str]:
    """The argument names a new key of ``node`` (at ``path``) may take, and their owner."""
    if not path:
        from mmengine.runner import Runner

        return _init_arguments(Runner) | RUNNER_EXTRA_KEYS, 'Runner'
    if path in UNTYPED_ARGUMENTS:
        return UNTYPED_ARGUMENTS[path], repr(path)
    if path.endswith('_dataloader') and '.' not in path:
        from torch.utils.data import DataLoader

        return _init_arguments(DataLoader) | DATALOADER_KEYS, 'DataLoader'
    type_name = node.get('type')
    names: set[str] = set()
    for target in _registered(type_name, scope):
        names |= _init_arguments(target)
    return names, repr(type_name) if type_name is not None else 'an untyped dict'


def _flat_keys(node: object, path: str = '') -> Iterator[str]:
    if isinstance(node, Mapping):
        items = node.items()
    elif isinstance(node, list | tuple):
        items = enumerate(node)
    else:
        return
    for key, value in items:
        sub = f'{path}.{key}' if path else str(key)
        yield sub
        yield from _flat_keys(value, sub)


def _new_key(cfg: Config, key: str) -> tuple[str, object] | None:
    """Where ``key`` leaves ``cfg``: ``(last existing path, its value)``, or None if it fits.

    A new key under a dict is fine when it is an argument of the dict's ``type``.
    """
    node: object = cfg._cfg_dict
    parts = key.split('.')
    for i, part in enumerate(parts):
        parent_path = '.'.join(parts[:i])
        if isinstance(node, list | tuple):
            if part.isdigit() and int(part) < len(node):
                node = node[int(part)]
                continue
            return parent_path, node
        if not isinstance(node, Mapping):
            return parent_path, node
        if 'cfg_path' in node:
            return None  # keys merged into the config named by cfg_path (MGDDistill teacher)
        if part in node:
            node = node[part]
            continue
        arguments, _ = _arguments_of(node, parent_path, cfg.get('default_scope'))
        return None if part in arguments else (parent_path, node)
    return None


def check_cfg_options(cfg: Config, options: Mapping) -> None:
    """Refuses ``--cfg-options`` keys that the config does not have (typos).

    A key is accepted when it exists in ``cfg`` (list indices included), when it is a new
    argument of the class its dict builds (e.g. ``optim_wrapper.accumulative_counts``), or
    when it lies under a dict that the same options replace (``<key>._delete_=True``) or
    under a ``dict(cfg_path=...)``.

    Raises:
        ValueError: naming each unknown key and the closest existing ones, and the
            ``--allow-new-keys`` escape.
    """
    replaced = [k[: -len('_delete_')] for k in options if k.split('.')[-1] == '_delete_']
    messages = []
    all_keys = None
    for key in options:
        if key.split('.')[-1] == '_delete_' or any(key.startswith(p) for p in replaced):
            continue
        new = _new_key(cfg, key)
        if new is None:
            continue
        parent_path, parent = new
        if all_keys is None:
            all_keys = list(_flat_keys(cfg._cfg_dict))
        candidates = list(all_keys)
        if isinstance(parent, Mapping):
            arguments, what = _arguments_of(parent, parent_path, cfg.get('default_scope'))
            candidates += [f'{parent_path}.{a}' if parent_path else a for a in arguments]
            below = f'under {parent_path!r}' if parent_path else 'at the top level'
            reason = f'the config has no such key {below}, nor is it an argument of {what}'
        elif isinstance(parent, list | tuple):
            index = key.split('.')[parent_path.count('.') + 1 if parent_path else 0]
            reason = f'{parent_path!r} is a list of {len(parent)} items, {index!r} is no index'
        else:
            reason = f'{parent_path!r} is a {type(parent).__name__}, not a dict'
        close = difflib.get_close_matches(key, list(dict.fromkeys(candidates)), n=3, cutoff=0.6)
        hint = f'did you mean {" or ".join(map(repr, close))}?' if close else 'no similar key.'
        messages.append(f'{key!r}: {reason}; {hint}')
    if messages:
        raise ValueError(
            '--cfg-options names keys that are not in the config:\n  '
            + '\n  '.join(messages)
            + f'\n{ALLOW_NEW_KEYS_HINT}'
        )
