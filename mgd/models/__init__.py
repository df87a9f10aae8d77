"""MGD models, registered in mmrazor's ``MODELS`` (backbones in mmpretrain's).

Configs import this package (``custom_imports = dict(imports=['mgd.models'])``). It applies
the stack fixes of :mod:`mgd.compat.stack` first: mmrazor's models do not import on torch 2
without them.
"""

from mgd.compat import stack

stack.apply()

from mgd.models.algorithms import MGDDistill, TeacherEnsemble, build_teacher  # noqa: E402
from mgd.models.backbones import MobileNetV1  # noqa: E402
from mgd.models.connectors import MGDConnector, random_mask  # noqa: E402
from mgd.models.distiller_builders import (  # noqa: E402
    dense_kd_distiller,
    mgd_distiller,
    multi_teacher_distiller,
    multi_teacher_model,
    wsld_distiller,
    yolov5_kd_distiller,
)
from mgd.models.losses import (  # noqa: E402
    DenseClsKDLoss,
    MGDLoss,
    MultiTeacherKDLoss,
    YOLOv5OutputKDLoss,
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
    'multi_teacher_model',
    'random_mask',
    'wsld_distiller',
    'YOLOv5OutputKDLoss',
    'yolov5_kd_distiller',
]
