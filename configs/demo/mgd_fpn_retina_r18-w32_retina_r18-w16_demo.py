# Demo MGD: the w32 teacher distils its 5 FPN outputs into the w16 student (α 2e-5, λ 0.65,
# as the paper's RetinaNet setting), and the student inherits the teacher's neck and head.
_base_ = ['./retinanet_r18-w16_demo.py']
from mgd.models import mgd_distiller

model = dict(
    _delete_=True,
    type='mmrazor.MGDDistill',  # scoped type: the student builds in the config's mmdet scope
    architecture=_base_.model,
    teacher=dict(cfg_path='{{fileDirname}}/retinanet_r18-w32_demo.py'),
    teacher_ckpt='work_dirs/demo/teacher/epoch_24.pth',
    inherit=('neck', 'bbox_head'),
    distiller=mgd_distiller(
        source='neck',
        feature_indices=range(5),
        student_channels=64,
        teacher_channels=64,
        alpha_mgd=2e-5,
        lambda_mgd=0.65,
    ),
)
find_unused_parameters = False
