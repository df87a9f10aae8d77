"""Reading checkpoints with clear errors, and turning a distillation checkpoint into a plain
student checkpoint.

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
from collections import OrderedDict

import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.runner import CheckpointLoader

TEACHER_CKPT_HINT = 'pass a local file with --cfg-options model.teacher_ckpt=/path/to/teacher.pth'


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


def _load(path: str) -> object:
    if path.startswith(('http://', 'https://')):
        return load_url(path)
    if is_url(path):  # open-mmlab://, torchvision://, s3://, ...: mmengine resolves them
        return CheckpointLoader.load_checkpoint(path, map_location='cpu')
    return torch.load(path, map_location='cpu', weights_only=True)


def read_state_dict(path: str, what: str = 'checkpoint') -> dict:
    """Reads the ``state_dict`` of a checkpoint file or URL, with an error naming the file.

    Args:
        path: local path or URL.
        what: how the file is called in error messages (e.g. ``model.teacher_ckpt``).

    Returns:
        The state dict, with any ``module.`` prefix (DDP) removed.
    """
    if not is_url(path) and not os.path.isfile(path):
        raise FileNotFoundError(f'{what} {path!r} does not exist: {TEACHER_CKPT_HINT}')
    try:
        checkpoint = _load(path)
    except pickle.UnpicklingError as err:
        unsafe = [line.strip() for line in str(err).splitlines() if 'GLOBAL' in line.upper()]
        if not unsafe:
            raise RuntimeError(
                f'could not read {what} {path!r} (UnpicklingError: {err}): is it a PyTorch '
                'checkpoint, completely written?'
            ) from err
        raise RuntimeError(
            f'{what} {path!r} holds python objects other than tensors and plain data '
            f'({unsafe[0]}); they are refused because unpickling them can run code. If you '
            'trust the file, keep only its weights: python -c "import torch; c = torch.load('
            "'IN.pth', weights_only=False); torch.save(dict(state_dict=c.get('state_dict', c)), "
            """'OUT.pth')" and pass OUT.pth."""
        ) from err
    except Exception as err:  # network, pickle and zip errors all end here
        if is_url(path):
            raise RuntimeError(
                f'could not download {what} {path!r} ({type(err).__name__}: {err}). Without '
                f'network access, download it on another machine and {TEACHER_CKPT_HINT}'
            ) from err
        raise RuntimeError(
            f'could not read {what} {path!r} ({type(err).__name__}: {err}): is it a PyTorch '
            'checkpoint, completely written?'
        ) from err
    state_dict = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state_dict, dict):
        raise RuntimeError(f'{what} {path!r} holds no state dict')
    return OrderedDict((k.removeprefix('module.'), v) for k, v in state_dict.items())


def distill_to_student(checkpoint: dict) -> dict:
    """Keeps only the student (``architecture.*``) of a distillation checkpoint.

    Returns:
        ``{'state_dict': ..., 'meta': ...}`` that loads into the stock student config.
    """
    state_dict = checkpoint.get('state_dict', checkpoint)
    student = OrderedDict(
        (k[len('architecture.') :], v)
        for k, v in state_dict.items()
        if k.startswith('architecture.')
    )
    if not student:
        raise ValueError('no "architecture.*" tensors: this is not an mgd distillation checkpoint')
    meta = {
        k: v
        for k, v in checkpoint.get('meta', {}).items()
        if k in ('dataset_meta', 'epoch', 'iter')
    }
    return {'state_dict': student, 'meta': meta}
