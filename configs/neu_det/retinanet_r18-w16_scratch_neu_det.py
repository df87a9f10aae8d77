# NEU-DET from scratch on a CPU: the baseline student of the real-data experiment
# (tools/demo.py --neu-det). The teacher's RetinaNet with a backbone half as wide (16 base
# channels) and the same neck and head, trained for half the teacher's epochs.
_base_ = ['./retinanet_r18-w32_scratch_neu_det.py']

model = dict(backbone=dict(base_channels=16), neck=dict(in_channels=[32, 64, 128]))
train_cfg = dict(max_epochs=12, val_interval=3)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', by_epoch=True, milestones=[10], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(interval=3))
