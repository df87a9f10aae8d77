# NEU-DET from scratch on a CPU, MGD + YOLOv5's output distillation: the MGD student
# (mgd_yolov5_s_yolov5_n_scratch_neu_det.py) also learns the teacher's raw head outputs
# (kd-yolov5_yolov5_s_yolov5_n_scratch_neu_det.py).
_base_ = ['./mgd_yolov5_s_yolov5_n_scratch_neu_det.py']
from mgd.models import yolov5_kd_distiller

model = dict(
    teacher_runs='tensor',  # the teacher's head runs too
    distiller=yolov5_kd_distiller(_base_.model.architecture.bbox_head, loss_weight=10),
)
