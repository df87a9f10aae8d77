# MGD + WSLD logit distillation: ResNet-34 -> ResNet-18, ImageNet top-1 69.90 -> 71.80.
_base_ = ['./mgd_resnet34_resnet18_8xb32_in1k.py']
from mgd.models import wsld_distiller

# MMRazor's WSLD setting (tau 2, weight 2.5) on the logits; the teacher runs whole for its own.
model = dict(teacher_runs='tensor', distiller=wsld_distiller(tau=2, loss_weight=2.5))
