# Training from scratch on a CPU (the demo, NEU-DET from scratch): AdamW for 24 epochs on
# mmdet's default runtime, with the project's hooks. From scratch, AdamW converges in the few
# epochs a CPU affords; SGD at lr 0.02 reached 6.2 mAP in 12 demo epochs here.
_base_ = 'mmdet::_base_/default_runtime.py'
from mgd.engine import mgd_hooks

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=24, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10, norm_type=2),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=True, milestones=[20], gamma=0.1),
]
# crash-safe checkpoints, exact resume, NaN stop (mgd/engine/runtime.py)
default_hooks, custom_hooks = mgd_hooks(
    checkpoint=dict(interval=4, max_keep_ckpts=1), logger=dict(type='LoggerHook', interval=10)
)
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
