# MGD on the segmentation check: the w32 teacher's last backbone stage (256 channels) from the
# w16 student's (128, through the align conv), alpha 2e-5 and lambda 0.75 as on Cityscapes,
# spatial mask. Data and schedule as the baseline student.
_base_ = ['./pspnet_r18-w16_demo-seg.py']
from mgd.models import mgd_distiller

model = dict(
    _delete_=True,
    type='mmrazor.MGDDistill',
    data_preprocessor=dict(_base_.data_preprocessor, type='mmseg.SegDataPreProcessor'),
    architecture=_base_.model,
    teacher=dict(cfg_path='{{fileDirname}}/pspnet_r18-w32_demo-seg.py'),
    teacher_ckpt='work_dirs/pspnet_r18-w32_demo-seg/iter_1000.pth',
    distiller=mgd_distiller(
        source='backbone',
        feature_indices=[3],
        student_channels=128,
        teacher_channels=256,
        alpha_mgd=2e-5,
        lambda_mgd=0.75,
    ),
)
