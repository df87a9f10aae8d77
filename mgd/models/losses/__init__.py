from mgd.models.losses.kd_losses import DenseClsKDLoss, MultiTeacherKDLoss
from mgd.models.losses.mgd_loss import MGDLoss

__all__ = ['DenseClsKDLoss', 'MGDLoss', 'MultiTeacherKDLoss']
