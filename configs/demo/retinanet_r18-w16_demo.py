# Demo student (baseline): the teacher's RetinaNet with a backbone half as wide (16 base
# channels). Neck and head are the teacher's, so the MGD student can inherit them.
_base_ = ['./retinanet_r18-w32_demo.py']

model = dict(backbone=dict(base_channels=16), neck=dict(in_channels=[32, 64, 128]))
