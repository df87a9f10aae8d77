# MGD: Cascade Mask R-CNN X101-32x4d-DCN (teacher) -> Faster R-CNN R50 2x, COCO box mAP 38.4 -> 42.1.
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py']
from mgd.engine import detection_clip_grad, mgd_hooks
from mgd.models import mgd_distiller

custom_imports = dict(imports=['mgd.models'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='mmrazor.MGDDistill',
    architecture=_base_.model,
    teacher=dict(cfg_path='mmdet::dcn/cascade-mask-rcnn_x101-32x4d-dconv-c3-c5_fpn_1x_coco.py'),
    teacher_ckpt='https://download.openmmlab.com/mmdetection/v2.0/dcn/cascade_mask_rcnn_x101_32x4d_fpn_dconv_c3-c5_1x_coco/cascade_mask_rcnn_x101_32x4d_fpn_dconv_c3-c5_1x_coco-e75f90c8.pth',
    # The heads differ, so nothing is inherited.
    distiller=mgd_distiller(
        source='neck',
        feature_indices=range(4),
        student_channels=256,
        teacher_channels=256,
        alpha_mgd=5e-7,
        lambda_mgd=0.45,
    ),
)

# The authors' code clips gradients in every detection setting.
optim_wrapper = dict(clip_grad=detection_clip_grad())

default_hooks, custom_hooks = mgd_hooks()  # crash-safe checkpoints, exact resume, NaN stop
