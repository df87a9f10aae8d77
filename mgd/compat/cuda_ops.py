"""GPU training with an mmcv built without CUDA ops: its CUDA ops run on torchvision's kernels.

An mmcv wheel or source build without ``FORCE_CUDA=1`` (``mmcv.ops.get_compiling_cuda_version()``
is ``'not available'``) has CPU kernels only, and the detectors stop at their first CUDA op
(``nms_impl: implementation for device cuda:0 not found``, ``DeformConv is not compiled with
GPU support``...). torchvision ships compiled CUDA kernels for the same operations.

Every ``mmcv.ops`` module calls its kernels through one object, the compiled extension
``mmcv._ext``, which it holds as ``ext_module`` and looks functions up on at each call; mmdet
binds mmcv's Python functions (``batched_nms``, ``roi_align``...) at import time, but those all
end there. :func:`install` replaces each module's ``ext_module`` with a :class:`RoutedExtension`
(and makes ``ext_loader.load_ext`` return it to modules imported later). Its routed functions
send CUDA tensors to :mod:`mgd.compat.cuda_kernels` (torchvision: NMS, RoIAlign, deformable
convolution v1/v2; torch: sigmoid focal loss) and CPU tensors to mmcv's own kernels; every other
name is the compiled extension's.

mmcv built with CUDA ops is left alone. Tests send CPU tensors through the routed path with
:func:`route_cpu`, to compare it with mmcv's CPU kernels.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import types
from collections import Counter
from collections.abc import Callable, Iterator

from mgd.compat import cuda_kernels

NOT_COMPILED = 'not available'  # what mmcv's get_compiling_cuda_version says without CUDA ops
ROUTED_TO_TORCHVISION = 'NMS, RoIAlign and deformable convolution (v1, v2)'
ROUTED_TO_TORCH = 'sigmoid focal loss'

# Calls per (path, function): path 'torchvision' (routed) or 'mmcv' (compiled extension).
CALLS: Counter = Counter()
_ROUTE_CPU = threading.local()
_STATE: dict = {'proxy': None, 'path': None}


def _routes(tensor) -> bool:
    return tensor.is_cuda or getattr(_ROUTE_CPU, 'on', False)


@contextlib.contextmanager
def route_cpu(enabled: bool = True) -> Iterator[None]:
    """Within it (in this thread) CPU tensors take the routed path too: for tests, and for
    ``tools/misc/gpu_check.py``'s CPU rehearsal of the GPU path."""
    before = getattr(_ROUTE_CPU, 'on', False)
    _ROUTE_CPU.on = enabled
    try:
        yield
    finally:
        _ROUTE_CPU.on = before


def _dispatcher(name: str, routed: Callable, compiled: Callable) -> Callable:
    def dispatch(*args, **kwargs):
        if _routes(args[0]):
            CALLS['torchvision', name] += 1
            return routed(*args, **kwargs)
        CALLS['mmcv', name] += 1
        return compiled(*args, **kwargs)

    dispatch.__name__ = dispatch.__qualname__ = name
    dispatch.__doc__ = f'CUDA tensors: {routed.__module__}.{name}; others: mmcv._ext.{name}.'
    return dispatch


class RoutedExtension(types.ModuleType):
    """Stands in for ``mmcv._ext``: the functions of :data:`cuda_kernels.KERNELS` dispatch
    on their first tensor's device; every other attribute is the compiled extension's."""

    def __init__(self, compiled: types.ModuleType) -> None:
        super().__init__(compiled.__name__, RoutedExtension.__doc__)
        self.compiled = compiled
        for name, routed in cuda_kernels.KERNELS.items():
            setattr(self, name, _dispatcher(name, routed, getattr(compiled, name)))

    def __getattr__(self, name: str):
        return getattr(self.compiled, name)

    def __repr__(self) -> str:
        return f'<RoutedExtension of {self.compiled!r} (mgd.compat.cuda_ops)>'


def _compiled_extension() -> types.ModuleType | None:
    try:
        import mmcv.ops  # noqa: F401  (loads every ops module, so all of them are rerouted)
        from mmcv import _ext
    except ImportError:  # mmcv-lite: no compiled ops at all, nothing to route
        return None
    return _ext


def _reroute_modules(compiled: types.ModuleType, proxy: RoutedExtension) -> list[str]:
    """Sets ``ext_module`` to ``proxy`` in every loaded module that holds ``compiled``."""
    rerouted = []
    for name, module in list(sys.modules.items()):
        namespace = getattr(module, '__dict__', None)  # no module __getattr__ is triggered
        if isinstance(namespace, dict) and namespace.get('ext_module') is compiled:
            module.ext_module = proxy
            rerouted.append(name)
    return rerouted


def _patch_load_ext(compiled: types.ModuleType, proxy: RoutedExtension) -> None:
    """Makes ``mmcv.utils.ext_loader.load_ext`` hand ``proxy`` to modules imported later."""
    from mmcv.utils import ext_loader

    load_ext = ext_loader.load_ext
    if getattr(load_ext, 'routed_by_mgd', False):
        return

    def routed_load_ext(name, funcs):
        ext = load_ext(name, funcs)
        return proxy if ext is compiled else ext

    routed_load_ext.routed_by_mgd = True
    ext_loader.load_ext = routed_load_ext


def torchvision_build() -> str:
    """``'torchvision 0.24.1 (CUDA 12.8)'``, or says its ops or CUDA kernels are missing."""
    import torchvision
    from torchvision.extension import _has_ops

    if not _has_ops():
        return f'torchvision {torchvision.__version__} WITHOUT compiled ops'
    cuda = str(torchvision.version.cuda or '')
    if cuda.isdigit():  # torchvision writes 12.8 as 12080
        cuda = f'{int(cuda) // 1000}.{int(cuda) % 1000 // 10}'
    return f'torchvision {torchvision.__version__} ({f"CUDA {cuda}" if cuda else "CPU only"})'


def install() -> str:
    """Routes mmcv's CUDA ops to torchvision when mmcv has no CUDA ops; idempotent.

    Logs one line (mmengine ``print_log``, logger ``'current'``) naming the path taken.

    Returns:
        ``'torchvision'`` (routed), ``'mmcv'`` (mmcv has CUDA ops: left alone) or ``'none'``
        (no compiled mmcv ops at all).
    """
    if _STATE['path'] is not None:
        return _STATE['path']
    from mmengine.logging import print_log

    compiled = _compiled_extension()
    if compiled is None:
        _STATE['path'] = 'none'
        return 'none'
    import mmcv

    cuda = compiled.get_compiling_cuda_version()
    if cuda != NOT_COMPILED:
        _STATE['path'] = 'mmcv'
        message = f"mmcv {mmcv.__version__} was built with CUDA {cuda}: mmcv's own kernels run"
        print_log(f'mmcv ops: {message}', logger='current')
        return 'mmcv'
    proxy = RoutedExtension(compiled)
    _reroute_modules(compiled, proxy)
    _patch_load_ext(compiled, proxy)
    _STATE.update(proxy=proxy, path='torchvision')
    print_log(
        f'mmcv ops: mmcv {mmcv.__version__} was built without CUDA ops; on CUDA tensors, '
        f'{ROUTED_TO_TORCHVISION} run on {torchvision_build()} and {ROUTED_TO_TORCH} in torch '
        "(mgd.compat.cuda_ops); CPU tensors stay on mmcv's CPU kernels",
        logger='current',
    )
    return 'torchvision'


def active_path() -> str | None:
    """What :func:`install` chose (``None`` before it ran)."""
    return _STATE['path']


def routed_extension() -> RoutedExtension | None:
    """The object that replaced ``mmcv._ext`` in ``mmcv.ops``, if :func:`install` routed."""
    return _STATE['proxy']
