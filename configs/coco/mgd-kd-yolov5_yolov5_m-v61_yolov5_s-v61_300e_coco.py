# MGD on the neck outputs + YOLOv5's output distillation: YOLOv5-m -> YOLOv5-s.
_base_ = ['./mgd_yolov5_m-v61_yolov5_s-v61_300e_coco.py']
from mgd.models import yolov5_kd_distiller

model = dict(
    teacher_runs='tensor',  # the teacher's head runs too
    distiller=yolov5_kd_distiller(_base_.model.architecture.bbox_head, loss_weight=10),
)
