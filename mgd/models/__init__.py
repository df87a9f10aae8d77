"""MGD models, registered in mmrazor's ``MODELS`` (backbones in mmpretrain's)."""

from mgd.models.backbones import MobileNetV1
from mgd.models.mgd_connector import MGDConnector, random_mask
from mgd.models.mgd_distill import MGDDistill, build_teacher
from mgd.models.mgd_loss import MGDLoss

__all__ = ['MGDConnector', 'MGDLoss', 'MGDDistill', 'MobileNetV1', 'build_teacher', 'random_mask']
