"""MGD models, registered in mmrazor's ``MODELS``."""

from mgd.models.mgd_connector import MGDConnector, random_mask
from mgd.models.mgd_distill import MGDDistill, build_teacher
from mgd.models.mgd_loss import MGDLoss

__all__ = ['MGDConnector', 'MGDLoss', 'MGDDistill', 'build_teacher', 'random_mask']
