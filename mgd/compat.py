"""Fixes for the pinned stack (torch 2.9, mmengine 0.10.7, mmrazor 1.0.0), applied on import.

Nothing here edits an installed package; each fix is tested in ``tests/test_compat.py``.

1. ``torch.load`` defaults to ``weights_only=True`` since torch 2.6, and mmengine 0.10.7 calls
   it without the argument. A checkpoint written by mmengine's own Runner holds numpy scalars
   and dtypes in ``meta`` and ``HistoryBuffer`` objects in ``message_hub``, which the safe
   unpickler rejects, so ``--resume`` and testing a trained model fail. We allow exactly those
   types through torch's safe-globals list instead of turning the check off.
2. ``import mmrazor.models`` fails on torch >= 2 (mmrazor#632): ``mmrazor.structures.quantization``
   runs import-time code against ``torch.ao`` APIs that no longer exist. Distillation never
   uses quantization, so a stand-in module is registered before mmrazor is imported.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import torch

QUANTIZATION_MODULE = 'mmrazor.structures.quantization'


def mmengine_checkpoint_globals() -> list:
    """Returns the non-tensor types that mmengine's Runner writes into a checkpoint."""
    from mmengine.logging.history_buffer import HistoryBuffer

    numpy_scalar = np.core.multiarray.scalar  # how numpy pickles its scalars (np.float64, ...)
    dtype_classes = [type(np.dtype(name)) for name in np.sctypeDict.values()]
    return [HistoryBuffer, numpy_scalar, np.dtype, *set(dtype_classes)]


def allow_mmengine_checkpoints() -> None:
    """Lets ``torch.load(weights_only=True)`` read checkpoints saved by mmengine's Runner."""
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())


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


def apply() -> None:
    """Applies every fix; idempotent."""
    allow_mmengine_checkpoints()
    if int(torch.__version__.split('.')[0]) >= 2:
        stub_mmrazor_quantization()
