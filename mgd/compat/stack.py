"""Fixes for the pinned stack (torch 2.9, mmengine 0.10.7, mmrazor 1.0.0), applied on import.

Nothing here edits an installed package; each fix is tested in ``tests/test_compat/test_stack.py``.

1. ``torch.load`` defaults to ``weights_only=True`` since torch 2.6, and mmengine 0.10.7 calls
   it without the argument. A checkpoint written by mmengine's own Runner holds numpy scalars
   and dtypes, and ``HistoryBuffer`` objects in ``message_hub`` (numpy arrays, and statistics
   methods pickled as ``getattr(HistoryBuffer, 'min')``), which the safe unpickler rejects, so
   ``--resume`` and testing a trained model fail. We allow exactly those types (and a
   ``getattr`` limited to those methods) through torch's safe-globals list instead of turning
   the check off.
   mmengine's loader of local files is then :func:`mgd.utils.checkpoint.load_from_local` (the same
   ``weights_only`` read, with errors that name the file and never suggest
   ``weights_only=False``), so that every checkpoint the project reads goes through one loader.
2. ``import mmrazor.models`` fails on torch >= 2 (mmrazor#632): ``mmrazor.structures.quantization``
   runs import-time code against ``torch.ao`` APIs that no longer exist. Distillation never
   uses quantization, so a stand-in module is registered before mmrazor is imported.
3. mmcv built without CUDA ops (no ``FORCE_CUDA=1``) stops GPU training at the first CUDA op
   (``nms_impl: implementation for device cuda:0 not found``). :func:`mgd.compat.cuda_ops.install`
   routes those ops to torchvision's compiled kernels (tested in
   ``tests/test_compat/test_cuda_ops.py``).
4. mmdet 3.3.0's ``PointAssigner`` (RepPoints) indexes a CPU ``torch.arange`` with a CUDA mask,
   which recent torch refuses (seen on an H200, torch 2.11: "indices should be either on cpu or
   on the same device"). Its ``assign`` runs with the priors' device as torch's default device,
   so that the ``arange`` is made where the points are; nothing else in it changes.
5. mmpretrain 1.2.0 imports its multi-modal models whenever ``transformers>=4.28`` is installed,
   and they fail to import with transformers 5 (``class BertPreTrainedModel(None)``:
   ``NoneType takes no arguments``), which stops every mmpretrain model from building. When
   transformers lacks what they need, mmpretrain is told multi-modal support is absent (its own
   placeholders then name the missing dependency if such a model is asked for).
6. mmyolo 0.6.0 asserts ``mmcv < 2.1.0`` when its package is imported, although its code runs
   on mmcv 2.1.0 (its last release predates mmcv 2.1.0; every YOLO config here builds, trains
   and tests with it). The package is imported once here, with ``mmcv.__version__`` reading
   ``2.0.1`` for the length of that import only; mmyolo's other version checks (mmengine,
   mmdet) still run.
"""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import torch

from mgd.compat import cuda_ops

QUANTIZATION_MODULE = 'mmrazor.structures.quantization'


def _history_buffer_method(owner: type, name: str) -> object:
    """Stands in for ``getattr`` while unpickling: only ``HistoryBuffer`` statistics methods.

    ``HistoryBuffer.__getstate__`` stores its statistics methods (``min``, ``max``, ...), which
    pickle as ``getattr(HistoryBuffer, 'min')``. Allowing the real ``getattr`` would let a
    checkpoint reach any attribute of any allowed object (and so run arbitrary code).
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    known = {'min', 'max', 'current', 'mean', *HistoryBuffer._statistics_methods}
    if owner is not HistoryBuffer or name not in known:
        raise pickle.UnpicklingError(
            f'refusing getattr({owner!r}, {name!r}) in a checkpoint: only the statistics '
            "methods of mmengine's HistoryBuffer are allowed"
        )
    return getattr(owner, name)


def mmengine_checkpoint_globals() -> list:
    """Returns the non-tensor globals that mmengine's Runner writes into a checkpoint.

    ``meta`` holds numpy scalars; ``message_hub`` holds ``HistoryBuffer`` objects, whose numpy
    arrays pickle through ``_reconstruct`` and whose statistics methods through ``getattr``.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    multiarray = np.core.multiarray
    numpy_scalar = multiarray.scalar  # how numpy pickles its scalars (np.float64, ...)
    dtype_classes = [type(np.dtype(name)) for name in np.sctypeDict.values()]
    return [
        HistoryBuffer,
        numpy_scalar,
        np.dtype,
        *set(dtype_classes),
        np.ndarray,
        multiarray._reconstruct,  # how numpy pickles arrays
        (_history_buffer_method, 'builtins.getattr'),
    ]


def allow_mmengine_checkpoints() -> None:
    """Lets ``torch.load(weights_only=True)`` read checkpoints saved by mmengine's Runner, and
    makes :func:`mgd.utils.checkpoint.load_from_local` mmengine's loader of local files."""
    from mmengine.runner import CheckpointLoader

    from mgd.utils.checkpoint import load_from_local

    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)


class _QuantizationUnavailable:
    """Stands in for mmrazor's quantization classes, which cannot load on torch >= 2."""

    def __init__(self, *args, **kwargs) -> None:
        raise ImportError(
            'mmrazor quantization is not available: mmrazor 1.0.0 quantization does not '
            f'import on torch {torch.__version__} (mmrazor#632). The mgd package replaced '
            f'{QUANTIZATION_MODULE} with a stand-in so that distillation works.'
        )


def stub_mmrazor_quantization() -> None:
    """Registers the stand-in for ``mmrazor.structures.quantization`` if mmrazor needs it."""
    if QUANTIZATION_MODULE in sys.modules:
        return
    stub = types.ModuleType(QUANTIZATION_MODULE)
    stub.__doc__ = 'Stand-in installed by mgd.compat; see its docstring.'
    stub.BackendConfigs = {}
    stub.QConfigHandler = _QuantizationUnavailable
    stub.__all__ = ['BackendConfigs', 'QConfigHandler']
    sys.modules[QUANTIZATION_MODULE] = stub


def point_assigner_on_device() -> None:
    """Runs mmdet's ``PointAssigner.assign`` with the priors' device as the default device."""
    from mmdet.models.task_modules.assigners import PointAssigner

    original = PointAssigner.assign
    if getattr(original, '_mgd_on_device', False):
        return

    def assign(self, pred_instances, gt_instances, *args, **kwargs):
        with torch.device(pred_instances.priors.device):
            return original(self, pred_instances, gt_instances, *args, **kwargs)

    assign._mgd_on_device = True
    assign.__doc__ = original.__doc__
    PointAssigner.assign = assign


def transformers_for_mmpretrain() -> bool:
    """Whether transformers has what mmpretrain 1.2.0's multi-modal models import."""
    try:
        from transformers.modeling_utils import (  # noqa: F401
            PreTrainedModel,
            apply_chunking_to_forward,
            find_pruneable_heads_and_indices,
            prune_linear_layer,
        )
    except Exception:  # ImportError, or whatever a broken install raises
        return False
    return True


def mmpretrain_without_broken_multimodal() -> None:
    """Turns mmpretrain's multi-modal models off when transformers cannot serve them."""
    if 'mmpretrain.models' in sys.modules:
        return  # too late to change; it imported (so it worked) or raised already
    from mmpretrain.utils import dependency

    if dependency.WITH_MULTIMODAL and not transformers_for_mmpretrain():
        dependency.WITH_MULTIMODAL = False


def mmyolo_beside_mmcv_2_1() -> bool:
    """Imports mmyolo past its ``mmcv < 2.1.0`` assertion; True if this import did it."""
    import importlib.util

    if 'mmyolo' in sys.modules or importlib.util.find_spec('mmyolo') is None:
        return False
    import mmcv
    from mmengine.utils import digit_version

    real = mmcv.__version__
    if not digit_version('2.1.0') <= digit_version(real) < digit_version('2.2.0'):
        return False  # an mmcv mmyolo accepts, or one nobody checked it with: its own check runs
    mmcv.__version__ = '2.0.1'
    try:
        import mmyolo  # noqa: F401
    finally:
        mmcv.__version__ = real
    return True


def apply() -> None:
    """Applies every fix; idempotent."""
    allow_mmengine_checkpoints()
    if int(torch.__version__.split('.')[0]) >= 2:
        stub_mmrazor_quantization()
    mmpretrain_without_broken_multimodal()
    cuda_ops.install()
    point_assigner_on_device()
    mmyolo_beside_mmcv_2_1()
