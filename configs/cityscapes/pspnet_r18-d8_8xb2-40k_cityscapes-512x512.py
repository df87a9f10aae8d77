# Baseline student: PSPNet R18-D8 on Cityscapes, the MGD paper's setting (69.85 mIoU): mmseg's
# PSPNet R18 with 512x512 crops and 40k iterations, 2 images per GPU (the official code trains
# on 8 GPUs: bash tools/dist_train.sh CONFIG 8).
_base_ = 'mmseg::pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py'
from mgd.engine import mgd_hooks

custom_imports = dict(imports=['mgd.models'], allow_failed_imports=False)

crop_size = (512, 512)
data_preprocessor = dict(_base_.data_preprocessor, size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained='open-mmlab://resnet18_v1c',
    backbone=dict(depth=18),
    decode_head=dict(in_channels=512, channels=128),
    auxiliary_head=dict(in_channels=256, channels=64),
)
train_pipeline = [
    dict(t, crop_size=crop_size) if t['type'] == 'RandomCrop' else t for t in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

default_hooks, custom_hooks = mgd_hooks()  # crash-safe checkpoints, exact resume, NaN stop
