# NEU-CLS from scratch on a CPU, teacher 1: ResNet-18 with 32 base channels (a quarter of
# ResNet-18's FLOPs), 64 px, AdamW for 30 epochs (the runtime below is shared by every
# NEU-CLS config).
_base_ = ['mmpretrain::_base_/default_runtime.py', './neu_cls_classification.py']
from mgd.engine import mgd_hooks

custom_imports = dict(imports=['mgd.models'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, base_channels=32, num_stages=4, out_indices=(3,)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=6,
        in_channels=256,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ),
)
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=10)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, T_max=30),
]
# crash-safe checkpoints, exact resume, NaN stop (mgd/engine/runtime.py)
default_hooks, custom_hooks = mgd_hooks(
    checkpoint=dict(interval=10, max_keep_ckpts=1), logger=dict(interval=10)
)
randomness = dict(seed=0)
