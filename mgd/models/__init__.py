"""MGD models, registered in mmrazor's ``MODELS`` (backbones in mmpretrain's).

Configs import this package (``custom_imports = dict(imports=['mgd.models'])``). It applies
the stack fixes of :mod:`mgd.utils.compat` first: mmrazor's models do not import on torch 2
without them.
"""

from mgd.utils import compat

compat.apply()

from mgd.models.algorithms import MGDDistill, TeacherEnsemble, build_teacher  # noqa: E402
from mgd.models.backbones import MobileNetV1  # noqa: E402
from mgd.models.connectors import MGDConnector, random_mask  # noqa: E402
from mgd.models.losses import DenseClsKDLoss, MGDLoss, MultiTeacherKDLoss  # noqa: E402
from mgd.models.mgd_distiller import (  # noqa: E402
    dense_kd_distiller,
    mgd_distiller,
    multi_teacher_distiller,
)

__all__ = [
    'DenseClsKDLoss',
    'MGDConnector',
    'MGDDistill',
    'MGDLoss',
    'MobileNetV1',
    'MultiTeacherKDLoss',
    'TeacherEnsemble',
    'build_teacher',
    'dense_kd_distiller',
    'mgd_distiller',
    'multi_teacher_distiller',
    'random_mask',
]
