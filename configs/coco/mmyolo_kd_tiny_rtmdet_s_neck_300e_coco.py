# The anchor MGD on RTMDet is compared with: mmyolo's own RTMDet-s -> RTMDet-tiny neck
# distillation (normalised features + channel-wise divergence, mmrazor's FpnTeacherDistill;
# 41.0 -> 41.8 box mAP in mmyolo's model zoo), unchanged, in this project's stack.
_base_ = ['mmyolo::rtmdet/distillation/kd_tiny_rtmdet_s_neck_300e_coco.py']
from mgd.engine import mgd_hooks

custom_imports = dict(imports=['mgd.models'], allow_failed_imports=False)
# its EMA, pipeline-switch and stop-distillation hooks stay
default_hooks, custom_hooks = mgd_hooks(base_custom_hooks=_base_.custom_hooks)
