"""The ``mgd`` scope of mmengine's registries: our hooks, datasets and data transforms.

A config names them with the scope prefix (``type='mgd.AtomicCheckpointHook'``,
``type='mgd.NEUDETDataset'``) under any ``default_scope``; mmengine then imports this module
by itself, and each registry imports the module of its classes on first use (``locations``),
as mmdet's registries do. The MGD model classes live in mmrazor's ``MODELS`` (``mgd.models``).
"""

from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='mgd', locations=['mgd.engine.hooks'])
DATASETS = Registry(
    'dataset',
    parent=MMENGINE_DATASETS,
    scope='mgd',
    locations=['mgd.datasets.neu_det', 'mgd.datasets.neu_cls'],
)
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, scope='mgd', locations=['mgd.datasets.transforms']
)
