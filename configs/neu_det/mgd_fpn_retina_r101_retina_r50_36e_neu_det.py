# MGD on NEU-DET: RetinaNet R101-FPN teacher (trained with retinanet_r101_fpn_36e_neu_det.py)
# -> RetinaNet R50-FPN student, on the 5 FPN outputs, alpha 2e-5, lambda 0.65, spatial mask,
# neck and head inherited from the teacher. Schedule and data as the R50 baseline.
_base_ = ['./retinanet_r50_fpn_36e_neu_det.py']
from mgd.configs import mgd_distiller

custom_imports = dict(imports=['mgd'], allow_failed_imports=False)

# Train the teacher first; or pass model.teacher_ckpt=... with --cfg-options.
teacher_ckpt = 'work_dirs/retinanet_r101_fpn_36e_neu_det/epoch_36.pth'

# The student starts as the baseline does, from the COCO R50 checkpoint (loaded by the student
# itself: the runner's load_from would look for `architecture.*` keys), then its neck and head
# are overwritten by the teacher's (inherit).
student = _base_.model
student.init_cfg = dict(type='Pretrained', checkpoint=_base_.load_from)
load_from = None

model = dict(
    _scope_='mmrazor',
    _delete_=True,
    type='MGDDistill',
    architecture=student,
    teacher=dict(cfg_path='{{fileDirname}}/retinanet_r101_fpn_36e_neu_det.py'),
    teacher_ckpt=teacher_ckpt,
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
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
# Each validation also evaluates the teacher (its metrics are prefixed `teacher.`).
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
