# MGD + multi-teacher logit KD: ResNet-34 (73.62) and ResNet-50 (76.55) -> ResNet-18. Not in
# the paper (no published number). Loss: MGD from each teacher's last stage, plus
# lambda_kd·T²·KL(mean of the teachers' softmax(t/T) ‖ softmax(s/T)) + (1 − lambda_kd)·CE.
_base_ = ['mmpretrain::resnet/resnet18_8xb32_in1k.py']
from mgd.models import multi_teacher_distiller

custom_imports = dict(imports=['mgd.models'], allow_failed_imports=False)
lambda_kd = 0.5  # weights both the KD loss and (as 1 - lambda_kd) the student's CE below
model = dict(
    _delete_=True,
    type='mmrazor.MGDDistill',
    data_preprocessor=dict(_base_.data_preprocessor, type='mmpretrain.ClsDataPreprocessor'),
    architecture=dict(
        _base_.model,
        head=dict(_base_.model.head, loss=dict(_base_.model.head.loss, loss_weight=1 - lambda_kd)),
    ),
    teacher=dict(
        type='mmrazor.TeacherEnsemble',
        teachers=dict(
            r34=dict(
                cfg_path='mmpretrain::resnet/resnet34_8xb32_in1k.py',
                ckpt='https://download.openmmlab.com/mmclassification/v0/resnet/resnet34_8xb32_in1k_20210831-f257d4e6.pth',
            ),
            r50=dict(
                cfg_path='mmpretrain::resnet/resnet50_8xb32_in1k.py',
                ckpt='https://download.openmmlab.com/mmclassification/v0/resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth',
            ),
        ),
    ),
    teacher_runs='tensor',  # the teachers' logits are needed, not only their features
    distiller=multi_teacher_distiller(
        teachers=dict(
            r34=dict(channels=512, alpha_mgd=7e-5), r50=dict(channels=2048, alpha_mgd=7e-5)
        ),
        source='backbone',
        feature_indices=[0],
        student_channels=512,
        lambda_mgd=0.15,
        mask_on_channel=True,
        kd=dict(temperature=4, loss_weight=lambda_kd),
    ),
)

default_hooks = dict(checkpoint=dict(type='mgd.AtomicCheckpointHook'))
custom_hooks = [dict(type='mgd.RNGStateHook'), dict(type='mgd.FiniteLossHook')]
