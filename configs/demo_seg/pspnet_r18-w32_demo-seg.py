# Segmentation on a CPU in minutes: the teacher, a PSPNet with a ResNet-18-D8 layout of 32 base
# channels, from scratch, on the demo's synthetic defects as per-pixel labels (make demo, or
# tools/misc/make_demo_data.py data/demo_neu_det, writes masks/ beside images/). 7 classes:
# background and the six defects. Check that MGD's segmentation path learns; not a benchmark.
_base_ = ['mmseg::_base_/models/pspnet_r50-d8.py', 'mmseg::_base_/default_runtime.py']
from mgd.engine import mgd_hooks

custom_imports = dict(imports=['mgd.models'], allow_failed_imports=False)
from mgd.datasets.metainfo import NEU_DET_CLASSES

data_root = 'data/demo_neu_det/'
classes = ('background', *NEU_DET_CLASSES)
norm_cfg = dict(type='BN', requires_grad=True)  # one process on a CPU: no SyncBN
data_preprocessor = dict(_base_.data_preprocessor, size=(200, 200))
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(depth=18, stem_channels=32, base_channels=32, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=256, channels=64, num_classes=len(classes), norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=128, channels=32, num_classes=len(classes), norm_cfg=norm_cfg),
)

dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=dict(classes=classes),
    data_prefix=dict(img_path='images', seg_map_path='masks'),
    img_suffix='.jpg',
    seg_map_suffix='.png',
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(dataset, ann_file='annotations/seg_train.txt', pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(dataset, ann_file='annotations/seg_val.txt', pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

# AdamW from scratch, 1000 iterations (about 27 epochs of the 300 training images), poly decay
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4))
param_scheduler = [dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=1000, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=1000, val_interval=500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# crash-safe checkpoints, exact resume, NaN stop (mgd/engine/runtime.py)
default_hooks, custom_hooks = mgd_hooks(
    checkpoint=dict(by_epoch=False, interval=500, max_keep_ckpts=1),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
)
randomness = dict(seed=0)
