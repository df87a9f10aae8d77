# Your own detection data, the baseline student: RetinaNet R50-FPN fine-tuned from mmdet's COCO
# checkpoint, with the NEU-DET schedule (36 epochs, batch 8, lr 0.001). The teacher
# (retinanet_r101_fpn_36e_own_data.py) and the MGD student (mgd_fpn_..._own_data.py) in this
# folder read the data from this file: edit the three lines below and nothing else.
#
# The data is in the COCO layout tools/dataset_converters/voc_to_coco.py writes:
#   DATA_ROOT/images/*            DATA_ROOT/annotations/instances_{train,val,test}.json
# (COCO data of your own: put it in that layout, or override ann_file/data_prefix.)
data_root = 'data/mine/'
# the class names, in the order of the JSON files' categories (the order of --classes)
classes = ('scratch', 'dent', 'rust')
# images are resized to fit (width, height), keeping their aspect ratio; small defects need
# enough pixels for RetinaNet's smallest anchors (32 px)
image_size = (512, 512)

_base_ = '../neu_det/retinanet_r50_fpn_36e_neu_det.py'

model = dict(bbox_head=dict(num_classes=len(classes)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'instances'),
    ),
]
coco_dataset = dict(type='CocoDataset', data_root=data_root, metainfo=dict(classes=classes))
train_dataloader = dict(dataset=dict(coco_dataset, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(coco_dataset, pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(coco_dataset, pipeline=test_pipeline))
