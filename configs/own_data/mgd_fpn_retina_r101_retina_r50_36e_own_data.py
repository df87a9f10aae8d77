# Your own data, MGD: the R101 teacher (retinanet_r101_fpn_36e_own_data.py) distils its 5 FPN
# outputs into the R50 student (α 2e-5, λ 0.65, spatial mask, as the paper's RetinaNet), which
# inherits the teacher's neck and head. Data and schedule from retinanet_r50_fpn_36e_own_data.py.
_base_ = ['./retinanet_r50_fpn_36e_own_data.py']
from mgd.engine import detection_clip_grad
from mgd.models import mgd_distiller

load_from = None  # the student loads the COCO weights itself (see architecture)

model = dict(
    _delete_=True,
    type='mmrazor.MGDDistill',
    architecture=dict(_base_.model, init_cfg=dict(type='Pretrained', checkpoint=_base_.load_from)),
    teacher=dict(cfg_path='{{fileDirname}}/retinanet_r101_fpn_36e_own_data.py'),
    # or --cfg-options model.teacher_ckpt=/path/to/teacher.pth
    teacher_ckpt='work_dirs/retinanet_r101_fpn_36e_own_data/epoch_36.pth',
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
optim_wrapper = dict(clip_grad=detection_clip_grad())
# each validation also evaluates the teacher (metrics prefixed `teacher.`)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
