# YOLOv5's output distillation alone: YOLOv5-m -> YOLOv5-s (the study's YOLOv5 6.0 experiment
# reports 37.2 -> 39.3 with its own code). Objectness-weighted squared differences of the raw
# box, objectness and class outputs, YOLOv5's loss gains, weight 10 (mgd.models.losses.yolo_kd).
_base_ = ['./mgd_yolov5_m-v61_yolov5_s-v61_300e_coco.py']
from mgd.models import yolov5_kd_distiller

model = dict(
    teacher_runs='tensor',  # the teacher's head runs too
    distiller=dict(
        _delete_=True,
        type='mmrazor.ConfigurableDistiller',
        **yolov5_kd_distiller(_base_.model.architecture.bbox_head, loss_weight=10),
    ),
)
