# MGD: ResNet-34 (teacher, 73.62) -> ResNet-18, ImageNet top-1 69.90 -> 71.69.
_base_ = ['mmpretrain::resnet/resnet18_8xb32_in1k.py']
from mgd.engine import mgd_hooks
from mgd.models import mgd_distiller

custom_imports = dict(imports=['mgd.models'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='mmrazor.MGDDistill',
    # The Runner would pass the base's type-less data_preprocessor, which only a classifier takes.
    data_preprocessor=dict(_base_.data_preprocessor, type='mmpretrain.ClsDataPreprocessor'),
    architecture=_base_.model,
    teacher=dict(cfg_path='mmpretrain::resnet/resnet34_8xb32_in1k.py'),
    teacher_ckpt='https://download.openmmlab.com/mmclassification/v0/resnet/resnet34_8xb32_in1k_20210831-f257d4e6.pth',
    # The backbone's only output (out_indices=(3,)) is its last stage. lambda_mgd 0.15 is the
    # authors' code; the paper's text says 0.5.
    distiller=mgd_distiller(
        source='backbone',
        feature_indices=[0],
        student_channels=512,
        teacher_channels=512,
        alpha_mgd=7e-5,
        lambda_mgd=0.15,
        mask_on_channel=True,
    ),
)

default_hooks, custom_hooks = mgd_hooks()  # crash-safe checkpoints, exact resume, NaN stop
