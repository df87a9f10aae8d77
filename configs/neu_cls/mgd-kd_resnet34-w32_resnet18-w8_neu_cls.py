# The single-teacher version of mgd-mtkd_*: MGD + logit KD from ResNet-34-w32 alone.
_base_ = ['./mgd-mtkd_resnet18-w32-resnet34-w32_resnet18-w8_neu_cls.py']
from mgd.models import multi_teacher_distiller

model = dict(
    teacher=dict(teachers=dict(_delete_=True, r34=_base_.model.teacher.teachers.r34)),
    distiller=dict(
        _delete_=True,
        **multi_teacher_distiller(
            teachers=dict(r34=dict(channels=256, alpha_mgd=7e-5)),
            source='backbone',
            feature_indices=[0],
            student_channels=64,
            lambda_mgd=0.15,
            mask_on_channel=True,
            kd=dict(temperature=4, loss_weight=_base_.lambda_kd),
        ),
    ),
)
