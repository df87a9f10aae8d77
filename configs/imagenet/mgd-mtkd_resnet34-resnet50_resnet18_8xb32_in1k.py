# MGD + multi-teacher logit KD: ResNet-34 (73.62) and ResNet-50 (76.55) -> ResNet-18. Not in
# the paper (no published number). Loss: MGD from each teacher's last stage, plus
# lambda_kd·T²·KL(mean of the teachers' softmax(t/T) ‖ softmax(s/T)) + (1 − lambda_kd)·CE.
_base_ = ['mmpretrain::resnet/resnet18_8xb32_in1k.py']
from mgd.engine import mgd_hooks
from mgd.models import multi_teacher_model

custom_imports = dict(imports=['mgd.models'], allow_failed_imports=False)
lambda_kd = 0.5  # weights both the KD loss and (as 1 - lambda_kd) the student's CE below
model = multi_teacher_model(
    _base_.model,
    teachers=dict(
        r34=dict(
            cfg_path='mmpretrain::resnet/resnet34_8xb32_in1k.py',
            ckpt='https://download.openmmlab.com/mmclassification/v0/resnet/resnet34_8xb32_in1k_20210831-f257d4e6.pth',
            channels=512,
            alpha_mgd=7e-5,
        ),
        r50=dict(
            cfg_path='mmpretrain::resnet/resnet50_8xb32_in1k.py',
            ckpt='https://download.openmmlab.com/mmclassification/v0/resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth',
            channels=2048,
            alpha_mgd=7e-5,
        ),
    ),
    lambda_kd=lambda_kd,
    temperature=4,
    data_preprocessor=dict(_base_.data_preprocessor, type='mmpretrain.ClsDataPreprocessor'),
    source='backbone',
    feature_indices=[0],
    student_channels=512,
    lambda_mgd=0.15,
    mask_on_channel=True,
)

default_hooks, custom_hooks = mgd_hooks()  # crash-safe checkpoints, exact resume, NaN stop
