# MGD + multi-teacher logit KD on NEU-CLS: ResNet-18-w32 and ResNet-34-w32 -> ResNet-18-w8.
# MGD from each teacher's last stage (64 -> 256 channels, channel mask as on ImageNet), plus
# lambda_kd·T²·KL(mean of the teachers' softmax(t/T) ‖ softmax(s/T)) + (1 − lambda_kd)·CE.
_base_ = ['./resnet18-w8_neu_cls.py']
from mgd.models import multi_teacher_model

lambda_kd = 0.5  # weights both the KD loss and (as 1 - lambda_kd) the student's CE below
model = multi_teacher_model(
    _base_.model,
    teachers=dict(
        r18=dict(
            cfg_path='{{fileDirname}}/resnet18-w32_neu_cls.py',
            ckpt='work_dirs/neu_cls/teacher_r18/epoch_30.pth',
            channels=256,
            alpha_mgd=7e-5,
        ),
        r34=dict(
            cfg_path='{{fileDirname}}/resnet34-w32_neu_cls.py',
            ckpt='work_dirs/neu_cls/teacher_r34/epoch_30.pth',
            channels=256,
            alpha_mgd=7e-5,
        ),
    ),
    lambda_kd=lambda_kd,
    temperature=4,
    data_preprocessor=_base_.data_preprocessor,
    source='backbone',
    feature_indices=[0],
    student_channels=64,
    lambda_mgd=0.15,
    mask_on_channel=True,
)
