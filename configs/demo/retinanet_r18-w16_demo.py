# Demo student (baseline): the teacher's RetinaNet with a backbone half as wide (16 base
# channels), trained for half the teacher's epochs. Neck and head are the teacher's, so the
# MGD student can inherit them.
_base_ = ['./retinanet_r18-w32_demo.py']

model = dict(backbone=dict(base_channels=16), neck=dict(in_channels=[32, 64, 128]))
train_cfg = dict(max_epochs=12)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=True, milestones=[10], gamma=0.1),
]
