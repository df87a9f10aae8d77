# MGD: Cascade Mask R-CNN X101-32x4d-DCN (teacher) -> Mask R-CNN R50 2x, COCO mask mAP 35.4 -> 38.1.
# Teacher, distilled features and settings as the Faster R-CNN student's config; the student
# and its data (with masks) are the stock Mask R-CNN's.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_2x_coco.py']
from mgd.engine import detection_clip_grad, mgd_hooks
from mgd.utils.config import config_part

custom_imports = dict(imports=['mgd.models'], allow_failed_imports=False)

model = dict(
    config_part('{{fileDirname}}/mgd_fpn_cascade-mask-rcnn_x101-dcn_faster-rcnn_r50_2x_coco.py'),
    _delete_=True,
    architecture=_base_.model,
)

# The authors' code clips gradients in every detection setting.
optim_wrapper = dict(clip_grad=detection_clip_grad())
default_hooks, custom_hooks = mgd_hooks()  # crash-safe checkpoints, exact resume, NaN stop
