"""Refuses ``--cfg-options`` that would be silently ignored, before anything is built.

* :func:`check_cfg_options`: keys that the config does not have. mmengine would add a mistyped
  key (``model.teacher_ckp=...``) as a new one and the run would ignore it.
* :func:`check_file_variables`: top-level variables of the config file (``data_root``,
  ``classes``, ``image_size``, ``lambda_kd``, a pipeline...). The file used them when it was
  read; setting one afterwards changes the dumped config and nothing that runs.

``mgd.utils.config.load_config`` calls both.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterator, Mapping

from mmengine.config import Config

from mgd.utils.errors import ConfigError

__all__ = ['check_cfg_options', 'check_file_variables', 'config_items']

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
# What to set instead of a file variable, where the value alone does not say it.
VARIABLE_HINTS = {
    'lambda_kd': 'model.distiller.distill_losses.loss_kd.loss_weight=L and '
    'model.architecture.head.loss.loss_weight=1-L',
}
# Keys that configs no longer have, and what does their job now.
MOVED_KEYS = {
    'contrast_enhancement': (
        'contrast enhancement is a step of the data pipelines: train with a config that has '
        'it (configs/neu_det/retinanet_r18-w16_scratch_clahe_neu_det.py), or write one with '
        'mgd.datasets.transforms.with_contrast_enhancement.'
    ),
}
# JSON annotation files up to this size are parsed to see whether they hold any image.


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
            all_keys = [path for path, _ in config_items(cfg._cfg_dict)]
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
        hint = MOVED_KEYS.get(key, hint)
        messages.append(f'{key!r}: {reason}; {hint}')
    if messages:
        raise ConfigError(
            '--cfg-options names keys that are not in the config:\n  '
            + '\n  '.join(messages)
            + f'\n{ALLOW_NEW_KEYS_HINT}'
        )


def config_items(node: object, path: str = '') -> Iterator[tuple[str, object]]:
    """``(dotted key, value)`` of every value in a config dict ``node`` (list items by index),
    containers included, outermost first; keys start with ``path``."""
    if isinstance(node, Mapping):
        items = node.items()
    elif isinstance(node, list | tuple):
        items = enumerate(node)
    else:
        return
    for key, value in items:
        sub = f'{path}.{key}' if path else str(key)
        yield sub, value
        yield from config_items(value, sub)


def _uses(cfg: Config, name: str, variables: set[str]) -> list[str]:
    """The keys outside the file's ``variables`` whose value is the variable's value (or, for
    a string, contains it); none for values too common to tell (None, booleans, 0, 1)."""
    value = cfg._cfg_dict[name]
    if value is None or isinstance(value, bool) or value in (0, 1, '', (), []):
        return []
    found: list[str] = []
    for path, other in config_items(cfg._cfg_dict):
        if path.split('.')[0] in variables:
            continue
        if other == value or (
            isinstance(value, str) and len(value) > 3 and isinstance(other, str) and value in other
        ):
            if not any(path.startswith(f'{f}.') for f in found):  # the outermost only
                found.append(path)
    return found


def check_file_variables(cfg: Config, options: Mapping) -> None:
    """Refuses ``--cfg-options`` of a top-level variable of the config file (a top-level key
    that mmengine's Runner does not read), naming the keys that hold its value.

    Raises:
        ConfigError: the variable, where it was used, and the keys to set instead.
    """
    from mmengine.runner import Runner

    read_at_run = _init_arguments(Runner) | RUNNER_EXTRA_KEYS | {'custom_imports'}
    variables = {k for k in cfg._cfg_dict if k not in read_at_run}
    messages = []
    for key in options:
        name = key.split('.')[0]
        if name not in variables or name in MOVED_KEYS:
            continue
        uses = _uses(cfg, name, variables)
        instead = VARIABLE_HINTS.get(name) or (
            'the keys that hold its value: ' + ', '.join(uses[:8]) + ' ...' * (len(uses) > 8)
            if uses
            else 'the keys computed from it'
        )
        messages.append(
            f'{key}: {name!r} is a variable of the config file, used when the file was read, so '
            f'setting it now would change nothing that runs. Set {instead} (or edit {name} in a '
            'copy of the file)'
        )
    if messages:
        raise ConfigError('--cfg-options would be ignored:\n  ' + '\n  '.join(messages))
