# MGD alone: PSPNet R101-D8 (teacher, 78.34 mIoU) -> PSPNet R18-D8 on the last backbone stage
# (512 -> 2048 channels through the connector's 1x1 align), alpha 2e-5, lambda 0.75, spatial
# mask, no inheriting. The published 69.85 -> 73.63 came from the official code, which adds a
# channel-wise logit loss: mgd-cwd_pspnet_r101_pspnet_r18_8xb2-40k_cityscapes-512x512.py.
_base_ = ['./pspnet_r18-d8_8xb2-40k_cityscapes-512x512.py']
from mgd.models import mgd_distiller

model = dict(
    _delete_=True,
    type='mmrazor.MGDDistill',
    data_preprocessor=dict(_base_.data_preprocessor, type='mmseg.SegDataPreProcessor'),
    architecture=_base_.model,
    teacher=dict(cfg_path='mmseg::pspnet/pspnet_r101-d8_4xb2-40k_cityscapes-512x1024.py'),
    # the teacher the official code distils from
    teacher_ckpt='https://download.openmmlab.com/mmsegmentation/v0.5/pspnet/pspnet_r101-d8_512x1024_40k_cityscapes/pspnet_r101-d8_512x1024_40k_cityscapes_20200604_232751-467e7cf4.pth',  # noqa: E501
    # the backbone's 4th output is its last stage (1/8 resolution in both D8 networks)
    distiller=mgd_distiller(
        source='backbone',
        feature_indices=[3],
        student_channels=512,
        teacher_channels=2048,
        alpha_mgd=2e-5,
        lambda_mgd=0.75,
    ),
)
