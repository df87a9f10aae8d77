# NEU-DET from scratch on a CPU, MGD: the w32 teacher (retinanet_r18-w32_scratch_neu_det.py)
# distils its 5 FPN outputs into the w16 student (α 2e-5, λ 0.65, spatial mask, as the paper's
# RetinaNet), which inherits the teacher's neck and head. Schedule and data as the baseline.
_base_ = ['./retinanet_r18-w16_scratch_neu_det.py']
from mgd.models import mgd_distiller

model = dict(
    _delete_=True,
    type='mmrazor.MGDDistill',
    architecture=_base_.model,
    teacher=dict(cfg_path='{{fileDirname}}/retinanet_r18-w32_scratch_neu_det.py'),
    # tools/demo.py --neu-det trains the teacher first and passes its checkpoint
    teacher_ckpt='work_dirs/neu_det_scratch/teacher/epoch_24.pth',
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
