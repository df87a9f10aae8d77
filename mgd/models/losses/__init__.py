from mgd.models.losses.kd_losses import DenseClsKDLoss, MultiTeacherKDLoss
from mgd.models.losses.mgd_loss import MGDLoss
from mgd.models.losses.yolo_kd import YOLOv5OutputKDLoss

__all__ = ['DenseClsKDLoss', 'MGDLoss', 'MultiTeacherKDLoss', 'YOLOv5OutputKDLoss']
