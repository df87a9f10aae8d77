# MGD on NEU-DET: RetinaNet R101-FPN teacher (trained with retinanet_r101_fpn_36e_neu_det.py)
# -> RetinaNet R50-FPN student, on the 5 FPN outputs, alpha 2e-5, lambda 0.65, spatial mask,
# neck and head inherited from the teacher. Schedule and data as the R50 baseline.
_base_ = ['./retinanet_r50_fpn_36e_neu_det.py']
from mgd.engine import detection_clip_grad
from mgd.models import mgd_distiller

custom_imports = dict(imports=['mgd.models'], allow_failed_imports=False)

load_from = None  # the student loads the COCO weights itself (see architecture)

model = dict(
    _delete_=True,
    type='mmrazor.MGDDistill',
    # The student starts as the baseline does, from the COCO R50 checkpoint, loaded by the
    # student itself (the runner's load_from would look for `architecture.*` keys); then
    # inherit overwrites its neck and head with the teacher's.
    architecture=dict(_base_.model, init_cfg=dict(type='Pretrained', checkpoint=_base_.load_from)),
    teacher=dict(cfg_path='{{fileDirname}}/retinanet_r101_fpn_36e_neu_det.py'),
    # Train the teacher first, or pass --cfg-options model.teacher_ckpt=/path/teacher.pth
    teacher_ckpt='work_dirs/retinanet_r101_fpn_36e_neu_det/epoch_36.pth',
    inherit=('neck', 'bbox_head'),
    distiller=mgd_distiller(
        source='neck',
        feature_indices=range(5),
        student_channels=256,
        teacher_channels=256,
        alpha_mgd=2e-5,
        lambda_mgd=0.65,
    ),
)

# The official MGD RetinaNet config clips gradients at 35.
optim_wrapper = dict(clip_grad=detection_clip_grad())
# Each validation also evaluates the teacher (its metrics are prefixed `teacher.`).
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
