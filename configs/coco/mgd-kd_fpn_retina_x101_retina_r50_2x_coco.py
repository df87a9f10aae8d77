# MGD + output KD on COCO: the MGD RetinaNet config (X101-64x4d -> R50) plus a binary KL on the
# class scores of the 100 anchors per image where teacher and student disagree most (T 1,
# weight 1: the NEU-DET setting, not tuned on COCO; no published number).
_base_ = ['./mgd_fpn_retina_x101_retina_r50_2x_coco.py']
from mgd.models import dense_kd_distiller

model = dict(
    teacher_runs='tensor',  # the teacher's head runs too
    distiller=dense_kd_distiller(num_classes=80, temperature=1, loss_weight=1, topk=100),
)
