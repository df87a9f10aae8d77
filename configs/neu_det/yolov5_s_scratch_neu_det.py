# NEU-DET from scratch on a CPU: the YOLOv5 teacher of the real-data experiment (tools/demo.py
# --neu-det PATH --family yolov5). mmyolo's YOLOv5-s v6.1 (depth 0.33, width 0.5), 6 classes,
# no COCO weights; the data, schedule (AdamW, 24 epochs) and hooks of the RetinaNet teacher
# (retinanet_r18-w32_scratch_neu_det.py), so that the two families compare, but for the image
# size: 160 px, a little under the native 200 (YOLOv5's smallest anchors, 10x13 px, need no
# upscaling, which RetinaNet's 32-px ones do), so that the 3-seed experiment fits 150 minutes
# on 2 cores.
_base_ = ['./retinanet_r18-w32_scratch_neu_det.py']
from mgd.engine import mgd_hooks
from mgd.utils.config import config_part

# The model is built in mmyolo's scope (_scope_); the data and metric stay mmdet's.
# YOLOv5 scales its class and objectness loss gains with the classes and the image size
# (x 6/80 and x (160/640)^2 here). mmdet's data preprocessor and collate, not mmyolo's "fast"
# ones, keep the difficult boxes as ignored regions (ignore_iof_thr, as the RetinaNets).
model = dict(
    config_part(
        'mmyolo::yolov5/yolov5_s-v61_syncbn_8xb16-300e_coco.py',
        bbox_head=dict(
            head_module=dict(num_classes=6),
            loss_cls=dict(loss_weight=0.5 * 6 / 80),
            loss_obj=dict(loss_weight=1.0 * (160 / 640) ** 2),
            ignore_iof_thr=0.5,
        ),
    ),
    _scope_='mmyolo',
    _delete_=True,
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(160, 160), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(160, 160), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'instances'),
    ),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

# YOLOv5 is evaluated and saved with an exponential moving average of its weights, as mmyolo
# trains it, with a 500-iteration window (about 3 epochs): mmyolo's 10,000 (momentum 1e-4)
# is longer than these runs. Without it, YOLOv5-s reached 10.8 val mAP here and YOLOv5-n 9.8.
__ema = dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.002, gamma=200, priority=49)
default_hooks, custom_hooks = mgd_hooks(
    base_custom_hooks=[dict(__ema, update_buffers=True, strict_load=False)]
)
