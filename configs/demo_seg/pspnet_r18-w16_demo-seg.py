# The baseline student of the segmentation check: the teacher's PSPNet with 16 base channels,
# trained for half the teacher's iterations.
_base_ = ['./pspnet_r18-w32_demo-seg.py']

model = dict(
    backbone=dict(stem_channels=16, base_channels=16),
    decode_head=dict(in_channels=128, channels=32),
    auxiliary_head=dict(in_channels=64, channels=16),
)
param_scheduler = [dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=500, by_epoch=False)]
train_cfg = dict(max_iters=500, val_interval=250)
default_hooks = dict(checkpoint=dict(interval=250))
