# Demo teacher: the tiny RetinaNet (ResNet-18 layout, 32 base channels) on the synthetic
# NEU-DET look-alike made by tools/misc/make_demo_data.py. CPU, from scratch, no downloads.
_base_ = ['../_base_/models/retinanet_r18_tiny.py', 'mmdet::_base_/default_runtime.py']
custom_imports = dict(imports=['mgd.models'], allow_failed_imports=False)

data_root = 'data/demo_neu_det/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
    ),
]
# NEU-DET's classes and palette come with the dataset class (mgd/datasets/neu_det.py).
dataset = dict(type='mgd.NEUDETDataset', data_root=data_root, data_prefix=dict(img='images/'))
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        dataset,
        ann_file='annotations/instances_train.json',
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        dataset, ann_file='annotations/instances_val.json', test_mode=True, pipeline=test_pipeline
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/instances_val.json',
    metric='bbox',
    format_only=False,
)
test_evaluator = val_evaluator

# The teacher trains twice as long as the students (retinanet_r18-w16_demo.py: 12 epochs).
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=24, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# From scratch on a CPU, AdamW converges in the few epochs the demo affords; SGD at lr 0.02
# reached 6.2 teacher mAP in 12 epochs here (images upscaled to 256 px help the small defects).
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
