# NEU-DET (200x200 grey steel-surface images, 6 defect classes) in the COCO layout written by
# tools/dataset_converters/neu_det_to_coco.py (and by tools/misc/make_demo_data.py, which
# writes train and val only):
#   data/neu_det/images/*.jpg
#   data/neu_det/annotations/instances_{train,val,test}.json   (7:2:1 split)
# NEU-DET's classes and palette come with the dataset class (mgd/datasets/neu_det.py).
dataset_type = 'mgd.NEUDETDataset'
data_root = 'data/neu_det/'
backend_args = None

# The 200x200 images are upscaled to 512x512: at the native size many defects would be
# smaller than RetinaNet's smallest anchors (32 px on P3).
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(512, 512), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(512, 512), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    # 'instances' (the ground truth) is kept for the metric, which has no ann_file (below)
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'instances'),
    ),
]


# The batch is 8 images in total, as in the reference study. batch_size is per GPU:
# 1 GPU -> 8 (below); 4 GPUs -> 2, i.e. add --cfg-options train_dataloader.batch_size=2.
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args,
    ),
)
test_dataloader = dict(
    val_dataloader,
    dataset=dict(val_dataloader['dataset'], ann_file='annotations/instances_test.json'),
)

# No ann_file: the metric builds the COCO ground truth from the 'instances' the test pipeline
# passes on, so that overriding a dataloader's data_root is enough (an ann_file would be
# resolved from data_root once, when this file is read). The boxes and areas are the same as
# in the JSON file. It reports mAP, AP50, AP75 and AP_S/M/L.
val_evaluator = dict(type='CocoMetric', metric='bbox', format_only=False, backend_args=backend_args)
test_evaluator = val_evaluator
