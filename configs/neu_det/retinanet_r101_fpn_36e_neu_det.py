# Teacher: RetinaNet R101-FPN fine-tuned on NEU-DET from mmdet's COCO 2x checkpoint (38.9 box
# AP on COCO); same schedule as the R50 baseline. Its last checkpoint,
# work_dirs/retinanet_r101_fpn_36e_neu_det/epoch_36.pth, is the MGD teacher.
_base_ = './retinanet_r50_fpn_36e_neu_det.py'

model = dict(backbone=dict(depth=101))
load_from = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_r101_fpn_2x_coco/retinanet_r101_fpn_2x_coco_20200131-5560aee8.pth'  # noqa: E501
