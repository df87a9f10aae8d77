# MGD + channel-wise logit distillation, as the official code trains: the published DeepLabV3
# R18 73.20 -> 76.02 (paper) / 76.31 (repository) mIoU. Settings as the PSPNet R18 one.
_base_ = ['./mgd-cwd_pspnet_r101_pspnet_r18_8xb2-40k_cityscapes-512x512.py']

from mgd.utils.config import config_part

# the student: deeplabv3_r18-d8_8xb2-40k_cityscapes-512x512.py's DeepLabV3 R18-D8
model = dict(
    architecture=dict(
        config_part('{{fileDirname}}/deeplabv3_r18-d8_8xb2-40k_cityscapes-512x512.py'),
        _delete_=True,
    )
)
