# MGD: RTMDet-s (teacher, 44.6) -> RTMDet-tiny (41.0 box mAP), mmyolo's 300-epoch COCO recipe.
# No published MGD number; mmyolo's own neck distillation of the same pair reports 41.8
# (mmyolo_kd_tiny_rtmdet_s_neck_300e_coco.py). MGD on the three neck outputs, 96 -> 128
# channels; alpha and lambda as the paper's one-stage detectors, not tuned for RTMDet.
_base_ = ['mmyolo::rtmdet/rtmdet_tiny_syncbn_fast_8xb32-300e_coco.py']
from mgd.engine import mgd_hooks
from mgd.models import mgd_distiller

custom_imports = dict(imports=['mgd.models'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='mmrazor.MGDDistill',
    architecture=_base_.model,
    teacher=dict(cfg_path='mmyolo::rtmdet/rtmdet_s_syncbn_fast_8xb32-300e_coco.py'),
    teacher_ckpt='https://download.openmmlab.com/mmyolo/v0/rtmdet/rtmdet_s_syncbn_fast_8xb32-300e_coco/rtmdet_s_syncbn_fast_8xb32-300e_coco_20221230_182329-0a8c901a.pth',
    # neck and head are narrower than the teacher's (96 vs 128 channels): no inheriting
    distiller=mgd_distiller(
        source='neck',
        feature_indices=range(3),
        student_channels=96,
        teacher_channels=128,
        alpha_mgd=2e-5,
        lambda_mgd=0.65,
    ),
)
# mmyolo's EMA and pipeline-switch hooks stay
default_hooks, custom_hooks = mgd_hooks(base_custom_hooks=_base_.custom_hooks)
