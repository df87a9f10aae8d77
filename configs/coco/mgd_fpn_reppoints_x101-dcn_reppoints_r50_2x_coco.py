# MGD: RepPoints X101-DCN (teacher) -> RepPoints R50 2x, GN neck+head, COCO box mAP 38.6 -> 42.3.
_base_ = ['mmdet::reppoints/reppoints-moment_r50_fpn-gn_head-gn_2x_coco.py']
from mgd.engine import detection_clip_grad, mgd_hooks
from mgd.models import mgd_distiller

custom_imports = dict(imports=['mgd.models'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='mmrazor.MGDDistill',
    architecture=_base_.model,
    # The paper says X101-64x4d, but the only RepPoints X101-DCN config and checkpoint
    # (the ones the authors' code loads) are ResNeXt-101 32x4d; 44.2 mAP.
    teacher=dict(
        cfg_path='mmdet::reppoints/reppoints-moment_x101-dconv-c3-c5_fpn-gn_head-gn_2x_coco.py'
    ),
    teacher_ckpt='https://download.openmmlab.com/mmdetection/v2.0/reppoints/reppoints_moment_x101_fpn_dconv_c3-c5_gn-neck%2Bhead_2x_coco/reppoints_moment_x101_fpn_dconv_c3-c5_gn-neck%2Bhead_2x_coco_20200329-f87da1ea.pth',
    inherit=('neck', 'bbox_head'),
    distiller=mgd_distiller(
        source='neck',
        feature_indices=range(5),
        student_channels=256,
        teacher_channels=256,
        alpha_mgd=2e-5,
        lambda_mgd=0.65,
    ),
)

# The authors' code clips gradients in every detection setting.
optim_wrapper = dict(clip_grad=detection_clip_grad())

default_hooks, custom_hooks = mgd_hooks()  # crash-safe checkpoints, exact resume, NaN stop
