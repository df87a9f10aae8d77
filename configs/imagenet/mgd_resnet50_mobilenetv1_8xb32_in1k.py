# MGD: ResNet-50 (teacher, 76.55) -> MobileNetV1, ImageNet top-1 69.21 -> 72.49.
_base_ = ['./mobilenetv1_8xb32_in1k.py']
from mgd.models import mgd_distiller

model = dict(
    _delete_=True,
    type='mmrazor.MGDDistill',
    # The Runner would pass the base's type-less data_preprocessor, which only a classifier takes.
    data_preprocessor=dict(_base_.data_preprocessor, type='mmpretrain.ClsDataPreprocessor'),
    architecture=_base_.model,
    teacher=dict(cfg_path='mmpretrain::resnet/resnet50_8xb32_in1k.py'),
    teacher_ckpt='https://download.openmmlab.com/mmclassification/v0/resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth',
    # Last stage: MobileNetV1's 1024 channels, aligned by the connector's 1x1 conv to 2048.
    distiller=mgd_distiller(
        source='backbone',
        feature_indices=[0],
        student_channels=1024,
        teacher_channels=2048,
        alpha_mgd=7e-5,
        lambda_mgd=0.15,
        mask_on_channel=True,
    ),
)

optim_wrapper = dict(clip_grad=dict(max_norm=5))
