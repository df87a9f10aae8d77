# MobileNetV1 (width 1.0) on ImageNet, the student of the MGD ResNet-50 -> MobileNetV1 experiment.
# Schedule as the authors' mmcls config: SGD lr 0.1, 100 epochs, steps at 30/60/90, 8 GPUs x 32.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]
from mgd.engine import mgd_hooks

custom_imports = dict(imports=['mgd.models'], allow_failed_imports=False)

model = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(type='MobileNetV1'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ),
)

default_hooks, custom_hooks = mgd_hooks()  # crash-safe checkpoints, exact resume, NaN stop
