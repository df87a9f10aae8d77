# NEU-DET from scratch on a CPU, YOLOv5's output distillation alone: the student learns the
# teacher's raw box, objectness and class outputs, weighted by the teacher's objectness, with
# YOLOv5's loss gains and weight 10 (mgd.models.losses.yolo_kd). Schedule and data as the
# baseline (yolov5_n_scratch_neu_det.py).
_base_ = ['./mgd_yolov5_s_yolov5_n_scratch_neu_det.py']
from mgd.models import yolov5_kd_distiller

model = dict(
    teacher_runs='tensor',  # the teacher's head runs too
    distiller=dict(
        _delete_=True,
        type='mmrazor.ConfigurableDistiller',
        **yolov5_kd_distiller(_base_.model.architecture.bbox_head, loss_weight=10),
    ),
)
