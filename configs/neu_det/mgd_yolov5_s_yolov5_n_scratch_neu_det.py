# NEU-DET from scratch on a CPU, MGD: the YOLOv5-s teacher (yolov5_s_scratch_neu_det.py) distils
# its three neck outputs (P3-P5, 128/256/512 channels) into the YOLOv5-n student's (64/128/256:
# the connectors' 1x1 convs align them); alpha and lambda as the RetinaNet run (2e-5, 0.65,
# spatial mask). No inheriting: the student's neck and head are narrower than the teacher's.
_base_ = ['./yolov5_n_scratch_neu_det.py']
from mgd.models import mgd_distiller

model = dict(
    _delete_=True,
    type='mmrazor.MGDDistill',
    architecture=_base_.model,
    teacher=dict(cfg_path='{{fileDirname}}/yolov5_s_scratch_neu_det.py'),
    # tools/demo.py --neu-det PATH --family yolov5 trains the teacher first and passes its
    # checkpoint
    teacher_ckpt='work_dirs/neu_det_yolov5/teacher/epoch_24.pth',
    distiller=mgd_distiller(
        source='neck',
        feature_indices=range(3),
        student_channels=[64, 128, 256],
        teacher_channels=[128, 256, 512],
        alpha_mgd=2e-5,
        lambda_mgd=0.65,
    ),
)
find_unused_parameters = False
