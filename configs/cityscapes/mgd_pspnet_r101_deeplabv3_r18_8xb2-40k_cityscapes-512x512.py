# MGD alone: PSPNet R101-D8 -> DeepLabV3 R18-D8, as mgd_pspnet_r101_pspnet_r18 (the feature is
# the backbone's, whatever the decode head). The published 73.20 -> 76.02 (paper) / 76.31
# (repository) came with the channel-wise logit loss: mgd-cwd_pspnet_r101_deeplabv3_r18_*.py.
_base_ = ['./mgd_pspnet_r101_pspnet_r18_8xb2-40k_cityscapes-512x512.py']

# the student's PSP decode head with ASPP (as deeplabv3_r18-d8_8xb2-40k_cityscapes-512x512.py)
model = dict(
    architecture=dict(
        decode_head=dict(
            {k: v for k, v in _base_.model.architecture.decode_head.items() if k != 'pool_scales'},
            _delete_=True,
            type='ASPPHead',
            dilations=(1, 12, 24, 36),
        )
    )
)
