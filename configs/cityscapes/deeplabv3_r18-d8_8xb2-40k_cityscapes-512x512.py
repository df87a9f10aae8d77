# Baseline student: DeepLabV3 R18-D8 on Cityscapes, the MGD paper's setting (73.20 mIoU); data,
# crops and schedule as pspnet_r18-d8_8xb2-40k_cityscapes-512x512.py.
_base_ = './pspnet_r18-d8_8xb2-40k_cityscapes-512x512.py'

# the PSP student's decode head with ASPP (dilations 1, 12, 24, 36) in place of the pyramid pooling
model = dict(
    decode_head=dict(
        {k: v for k, v in _base_.model.decode_head.items() if k != 'pool_scales'},
        _delete_=True,
        type='ASPPHead',
        dilations=(1, 12, 24, 36),
    )
)
