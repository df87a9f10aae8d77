# MGD + multi-teacher logit KD on NEU-CLS: ResNet-18-w32 and ResNet-34-w32 -> ResNet-18-w8.
# MGD from each teacher's last stage (64 -> 256 channels, channel mask as on ImageNet), plus
# lambda_kd·T²·KL(mean of the teachers' softmax(t/T) ‖ softmax(s/T)) + (1 − lambda_kd)·CE.
_base_ = ['./resnet18-w8_neu_cls.py']
from mgd.models import multi_teacher_distiller

lambda_kd = 0.5  # weights both the KD loss and (as 1 - lambda_kd) the student's CE below
model = dict(
    _delete_=True,
    type='mmrazor.MGDDistill',
    data_preprocessor=_base_.data_preprocessor,
    architecture=dict(
        _base_.model,
        head=dict(_base_.model.head, loss=dict(_base_.model.head.loss, loss_weight=1 - lambda_kd)),
    ),
    teacher=dict(
        type='mmrazor.TeacherEnsemble',
        teachers=dict(
            r18=dict(
                cfg_path='{{fileDirname}}/resnet18-w32_neu_cls.py',
                ckpt='work_dirs/neu_cls/teacher_r18/epoch_30.pth',
            ),
            r34=dict(
                cfg_path='{{fileDirname}}/resnet34-w32_neu_cls.py',
                ckpt='work_dirs/neu_cls/teacher_r34/epoch_30.pth',
            ),
        ),
    ),
    teacher_runs='tensor',  # the teachers' logits are needed, not only their features
    distiller=multi_teacher_distiller(
        teachers=dict(
            r18=dict(channels=256, alpha_mgd=7e-5), r34=dict(channels=256, alpha_mgd=7e-5)
        ),
        source='backbone',
        feature_indices=[0],
        student_channels=64,
        lambda_mgd=0.15,
        mask_on_channel=True,
        kd=dict(temperature=4, loss_weight=lambda_kd),
    ),
)
