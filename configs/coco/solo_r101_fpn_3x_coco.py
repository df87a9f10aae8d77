# SOLO R101 3x (multi-scale), the teacher of mgd_fpn_solo_r101_solo_r50_1x_coco.py: mmdet has
# the config for R50 only and publishes no R101 3x checkpoint, so train this one first, then
# train the MGD config with --cfg-options model.teacher_ckpt=work_dirs/solo_r101_fpn_3x_coco/epoch_36.pth
_base_ = ['mmdet::solo/solo_r50_fpn_3x_coco.py']
from mgd.engine import mgd_hooks

custom_imports = dict(imports=['mgd.models'], allow_failed_imports=False)

model = dict(
    backbone=dict(depth=101, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101'))
)

default_hooks, custom_hooks = mgd_hooks()  # crash-safe checkpoints, exact resume, NaN stop
