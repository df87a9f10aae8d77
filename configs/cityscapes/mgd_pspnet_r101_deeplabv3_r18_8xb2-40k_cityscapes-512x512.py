# MGD alone: PSPNet R101-D8 -> DeepLabV3 R18-D8, as mgd_pspnet_r101_pspnet_r18 (the feature is
# the backbone's, whatever the decode head). The published 73.20 -> 76.02 (paper) / 76.31
# (repository) came with the channel-wise logit loss: mgd-cwd_pspnet_r101_deeplabv3_r18_*.py.
_base_ = ['./mgd_pspnet_r101_pspnet_r18_8xb2-40k_cityscapes-512x512.py']

from mgd.utils.config import config_part

# the student: deeplabv3_r18-d8_8xb2-40k_cityscapes-512x512.py's DeepLabV3 R18-D8
model = dict(
    architecture=dict(
        config_part('{{fileDirname}}/deeplabv3_r18-d8_8xb2-40k_cityscapes-512x512.py'),
        _delete_=True,
    )
)
