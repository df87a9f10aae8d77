# Your own data, the teacher: RetinaNet R101-FPN fine-tuned from mmdet's COCO checkpoint; data
# and schedule from retinanet_r50_fpn_36e_own_data.py (edit the data there). Train it first:
# its last checkpoint is the MGD config's teacher.
_base_ = './retinanet_r50_fpn_36e_own_data.py'

model = dict(backbone=dict(depth=101))
load_from = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_r101_fpn_2x_coco/retinanet_r101_fpn_2x_coco_20200131-5560aee8.pth'  # noqa: E501
