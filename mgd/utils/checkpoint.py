"""Reading checkpoints with clear errors: the one loader of local checkpoints.

Which checkpoints can run code: ``torch.load`` unpickles, and unpickling arbitrary objects can
execute code. Local files and ``http(s)://`` URLs are read here with ``weights_only=True``
(tensors and plain python data; ``mgd.compat`` adds the numpy/mmengine types that mmengine's
Runner writes), which covers OpenMMLab model-zoo checkpoints (``{'state_dict', 'meta'}``, also
with ``optimizer``) and checkpoints of our own runs. ``open-mmlab://``, ``torchvision://`` and
``s3://`` go through mmengine's loader, which for the first two downloads with
``weights_only=False``: those names resolve to OpenMMLab's and torchvision's servers and are
trusted as code. The same holds for ``init_cfg=dict(type='Pretrained', checkpoint=...)`` URLs
in model configs (the students' ImageNet backbones). Nothing is downloaded unless a config
names a URL.
"""

from __future__ import annotations

import os
import pickle
import re
from collections import OrderedDict

import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.runner import CheckpointLoader
from torch import nn

from mgd.utils.distill_config import is_distill_state
from mgd.utils.errors import CheckpointError, ConfigError, MissingFileError


def local_file_hint(what: str) -> str:
    """How to pass a local file for the config key ``what`` (e.g. ``model.teacher_ckpt``, or
    ``model.teacher.teachers.r34.ckpt`` in an ensemble)."""
    return f'pass a local file with --cfg-options {what}=/path/to/teacher.pth'


def is_url(path: str) -> bool:
    """Whether ``path`` is remote (``scheme://...``): mmengine's file backends resolve it,
    nothing checks it locally."""
    return '://' in path


def load_url(url: str) -> object:
    """Downloads ``url`` into torch's hub cache (rank 0 first) and reads it, weights only."""
    rank, world_size = get_dist_info()
    if rank > 0:
        barrier()  # the other ranks read what rank 0 downloaded
    checkpoint = torch.hub.load_state_dict_from_url(url, map_location='cpu', weights_only=True)
    if rank == 0 and world_size > 1:
        barrier()
    return checkpoint


# Globals that a pickle calls to run code or touch the system: a checkpoint naming one is an
# attack (or a mistake that must not be run), never a model.
CODE_MODULES = {
    'os',
    'posix',
    'nt',
    'subprocess',
    'sys',
    'shutil',
    'socket',
    'runpy',
    'importlib',
    'pty',
    'ctypes',
    'code',
    'codeop',
    'webbrowser',
    'pickle',
    'marshal',
    'types',
    'multiprocessing',
}
CODE_BUILTINS = {'eval', 'exec', 'compile', '__import__', 'open', 'getattr', 'setattr', 'apply'}


def _runs_code(name: str) -> bool:
    """Whether the pickled global ``name`` (``module.attr``) is a way to run code."""
    module, _, attr = name.rpartition('.')
    root = module.split('.')[0]
    return root in CODE_MODULES or (
        root in ('builtins', '__builtin__', 'io') and attr in CODE_BUILTINS
    )


def _unsafe_message(what: str, path: str, err: Exception) -> str | None:
    """The refusal of a checkpoint that holds python objects torch would not load; ``None``
    when ``err`` is not that."""
    names = re.findall(r'GLOBAL ([\w.]+)', str(err))
    if not names:
        return None
    if any(_runs_code(name) for name in names):
        return (
            f'{what} {path!r} contains code: its pickle calls {names[0]}, which would run when '
            'the file is loaded. Do not load it (not with weights_only=False either); get the '
            'checkpoint from a source you trust.'
        )
    return (
        f'{what} {path!r} holds python objects other than tensors and plain data '
        f'({", ".join(dict.fromkeys(names))}), refused because unpickling objects can run code. '
        'If you trust the file, keep only its weights: python -c "import torch; c = torch.load('
        "'IN.pth', weights_only=False); torch.save(dict(state_dict=c.get('state_dict', c)), "
        """'OUT.pth')" and pass OUT.pth."""
    )


def load_from_local(path: str, map_location: object = 'cpu', what: str = 'checkpoint') -> object:
    """The project's one reader of local checkpoint files: ``torch.load(weights_only=True)``.

    ``mgd.compat.stack`` makes it mmengine's loader of local paths too, so ``--resume``,
    ``load_from``, ``tools/test.py``, the analysis tools and local ``Pretrained`` weights all
    read through it, as do ``model.teacher_ckpt`` and ``tools/convert_to_student.py``.

    Args:
        path: a local file.
        map_location: as for ``torch.load``.
        what: how the file is called in error messages (e.g. ``model.teacher_ckpt``).

    Raises:
        FileNotFoundError: the file does not exist.
        RuntimeError: naming the file: it holds code-running pickles, or is no (complete)
            PyTorch checkpoint.
    """
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        hint = local_file_hint(what) if what.startswith('model.teacher') else 'check the path'
        raise MissingFileError(f'{what} {path!r} does not exist: {hint}')
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        message = _unsafe_message(what, path, err)
        raise CheckpointError(
            message
            or f'could not read {what} {path!r} (UnpicklingError: {err}): is it a PyTorch '
            'checkpoint, completely written?'
        ) from err
    except Exception as err:  # zip, EOF and other format errors
        raise CheckpointError(
            f'could not read {what} {path!r} ({type(err).__name__}: {err}): is it a PyTorch '
            'checkpoint, completely written?'
        ) from err


def read_state_dict(path: str, what: str = 'checkpoint') -> dict:
    """Reads the ``state_dict`` of a checkpoint file or URL, with an error naming the file.

    Args:
        path: local path or URL.
        what: how the file is called in error messages (e.g. ``model.teacher_ckpt``).

    Returns:
        The state dict, with any ``module.`` prefix (DDP) removed.
    """
    if not is_url(path):
        checkpoint = load_from_local(path, 'cpu', what)
    else:
        try:
            if path.startswith(('http://', 'https://')):
                checkpoint = load_url(path)
            else:  # open-mmlab://, torchvision://, s3://, ...: mmengine resolves them
                checkpoint = CheckpointLoader.load_checkpoint(path, map_location='cpu')
        except Exception as err:  # network, pickle and zip errors all end here
            message = isinstance(err, pickle.UnpicklingError) and _unsafe_message(what, path, err)
            raise CheckpointError(
                message
                or f'could not download {what} {path!r} ({type(err).__name__}: {err}). Without '
                f'network access, download it on another machine and {local_file_hint(what)}'
            ) from err
    state_dict = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state_dict, dict):
        raise CheckpointError(f'{what} {path!r} holds no state dict')
    return OrderedDict((k.removeprefix('module.'), v) for k, v in state_dict.items())


def load_strictly(model: nn.Module, path: str) -> dict:
    """Loads every tensor of ``model`` from ``path``, or names what does not match.

    ``tools/test.py`` evaluates through it: mmengine's ``load_from`` only warns about
    mismatches and then evaluates a mostly random model.

    Args:
        model: the model (a DDP wrapper is unwrapped).
        path: a local checkpoint (or a URL that mmengine resolves).

    Returns:
        The checkpoint dict.

    Raises:
        ValueError: listing missing, unexpected and mismatched tensors, with what to pass.
    """
    from mmengine.model import is_model_wrapper

    if is_model_wrapper(model):
        model = model.module
    checkpoint = (
        CheckpointLoader.load_checkpoint(path, map_location='cpu')
        if is_url(path)
        else load_from_local(path)
    )
    state_dict = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else {}
    state_dict = OrderedDict((k.removeprefix('module.'), v) for k, v in state_dict.items())
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong = [
        f'{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}'
        for k, v in own.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        problems = [
            f'{len(items)} {kind}, e.g. {items[:3]}'
            for kind, items in (
                ('tensors of the model are not in the checkpoint', missing),
                ('tensors of the checkpoint are not in the model', unexpected),
                ('tensors differ in shape (checkpoint vs model)', wrong),
            )
            if items
        ]
        raise ConfigError(
            f"checkpoint {path!r} does not fit the config's model: {'; '.join(problems)}."
            + _fit_hint(list(state_dict), list(own))
        )
    model.load_state_dict(state_dict, strict=True)
    return checkpoint


def _fit_hint(checkpoint_keys: list[str], model_keys: list[str]) -> str:
    """What to pass instead, when a distillation checkpoint meets a plain config or back."""
    distill_checkpoint = is_distill_state(checkpoint_keys)
    distill_model = is_distill_state(model_keys)
    if distill_checkpoint and not distill_model:
        return (
            ' It is a distillation checkpoint (teacher and student): pass the distillation '
            'config it was trained with (its student is evaluated), or first convert it with '
            'tools/convert_to_student.py for the stock student config.'
        )
    if distill_model and not distill_checkpoint:
        return (
            ' The config is a distillation config, which evaluates a distillation checkpoint '
            '(from tools/train.py); a plain checkpoint (a teacher, or a converted student) '
            'goes with its own model config.'
        )
    return ' Pass the config the checkpoint was trained with.'
