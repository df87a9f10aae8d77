# Demo teacher: the tiny RetinaNet (ResNet-18 layout, 32 base channels) on the synthetic
# NEU-DET look-alike made by tools/misc/make_demo_data.py. CPU, from scratch, no downloads.
_base_ = ['../_base_/models/retinanet_r18_tiny.py', '../_base_/scratch_runtime.py']
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
    classwise=True,  # per-class AP (coco/<class>_precision)
)
test_evaluator = val_evaluator

# The teacher trains for 24 epochs (../_base_/scratch_runtime.py), the students for 12.
