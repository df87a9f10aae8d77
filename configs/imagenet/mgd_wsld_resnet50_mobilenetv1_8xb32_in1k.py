# MGD + WSLD logit distillation: ResNet-50 -> MobileNetV1, ImageNet top-1 69.21 -> 72.59.
_base_ = ['./mgd_resnet50_mobilenetv1_8xb32_in1k.py']
from mgd.models import wsld_distiller

# MMRazor's WSLD setting (tau 2, weight 2.5) on the logits; the teacher runs whole for its own.
model = dict(teacher_runs='tensor', distiller=wsld_distiller(tau=2, loss_weight=2.5))
