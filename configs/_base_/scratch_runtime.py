# Training from scratch on a CPU (the demo, NEU-DET from scratch): AdamW for 24 epochs on
# mmdet's default runtime, with the project's hooks. From scratch, AdamW converges in the few
# epochs a CPU affords; SGD at lr 0.02 reached 6.2 mAP in 12 demo epochs here.
_base_ = 'mmdet::_base_/default_runtime.py'

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
default_hooks = dict(
    # crash-safe checkpoints (mgd/engine/hooks.py); RNGStateHook makes a resume exact,
    # FiniteLossHook stops at the first NaN/inf loss
    checkpoint=dict(type='mgd.AtomicCheckpointHook', interval=4, max_keep_ckpts=1),
    logger=dict(type='LoggerHook', interval=10),
)
custom_hooks = [dict(type='mgd.RNGStateHook'), dict(type='mgd.FiniteLossHook')]
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
