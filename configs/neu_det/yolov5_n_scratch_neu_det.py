# NEU-DET from scratch on a CPU: the baseline YOLOv5 student of the real-data experiment
# (tools/demo.py --neu-det PATH --family yolov5). The teacher's YOLOv5 at half its width (0.25:
# YOLOv5-n's layout), trained for half its epochs, as the RetinaNet student.
_base_ = ['./yolov5_s_scratch_neu_det.py']

model = dict(
    backbone=dict(widen_factor=0.25),
    neck=dict(widen_factor=0.25),
    bbox_head=dict(head_module=dict(widen_factor=0.25)),
)
train_cfg = dict(max_epochs=12, val_interval=3)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', by_epoch=True, milestones=[10], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(interval=3))
