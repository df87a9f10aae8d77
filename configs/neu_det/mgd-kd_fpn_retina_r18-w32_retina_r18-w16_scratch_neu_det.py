# NEU-DET from scratch, MGD + output KD: the MGD student (mgd_fpn_retina_*_scratch_neu_det.py)
# also learns the teacher's class scores, per anchor and class (binary KL at temperature T),
# on the TOPK anchors per image where the two disagree most (GID's selection idea).
_base_ = ['./mgd_fpn_retina_r18-w32_retina_r18-w16_scratch_neu_det.py']
from mgd.models import dense_kd_distiller

model = dict(
    teacher_runs='tensor',  # the teacher's head runs too
    distiller=dense_kd_distiller(num_classes=6, temperature=1, loss_weight=1, topk=100),
)
