# NEU-DET from scratch on a CPU: the teacher of the real-data experiment (tools/demo.py
# --neu-det). The demo's tiny RetinaNet (ResNet-18 layout, 32 base channels, 64-channel FPN,
# 2-conv head), no ImageNet or COCO weights, images at 256 px, AdamW. The students
# (retinanet_r18-w16_scratch_neu_det.py) share its neck and head, so MGD can inherit them.
_base_ = [
    '../_base_/models/retinanet_r18_tiny.py',
    './neu_det_detection.py',
    '../_base_/scratch_runtime.py',
]
custom_imports = dict(imports=['mgd.models'], allow_failed_imports=False)

# Anchors over a difficult box (an ignored region, iscrowd=1) are ignored, not background.
model = dict(train_cfg=dict(assigner=dict(ignore_iof_thr=0.5)))

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
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'instances'),
    ),
]
train_dataloader = dict(num_workers=1, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=8, num_workers=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(batch_size=8, num_workers=1, dataset=dict(pipeline=test_pipeline))
# per-class AP in the metrics (coco/<class>_precision)
val_evaluator = dict(classwise=True)
test_evaluator = dict(classwise=True)

# AdamW, 24 epochs (../_base_/scratch_runtime.py); a warm-up of 100 iterations; validate and
# save every 6 epochs.
train_cfg = dict(val_interval=6)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', by_epoch=True, milestones=[20], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(interval=6), logger=dict(interval=20))
