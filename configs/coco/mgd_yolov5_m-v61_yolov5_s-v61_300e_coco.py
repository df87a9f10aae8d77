# MGD: YOLOv5-m v6.1 (teacher, 45.3) -> YOLOv5-s v6.1 (37.7 box mAP), mmyolo's 300-epoch COCO
# recipe. No published MGD number. MGD on the three neck outputs (P3-P5), whose channels differ
# per level (128/256/512 -> 192/384/768: the connectors' 1x1 convs align them); alpha and
# lambda are the paper's one-stage-detector setting (RetinaNet, RepPoints), not tuned for YOLO.
_base_ = ['mmyolo::yolov5/yolov5_s-v61_syncbn_fast_8xb16-300e_coco.py']
from mgd.engine import mgd_hooks
from mgd.models import mgd_distiller

custom_imports = dict(imports=['mgd.models'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='mmrazor.MGDDistill',
    architecture=_base_.model,
    teacher=dict(cfg_path='mmyolo::yolov5/yolov5_m-v61_syncbn_fast_8xb16-300e_coco.py'),
    teacher_ckpt='https://download.openmmlab.com/mmyolo/v0/yolov5/yolov5_m-v61_syncbn_fast_8xb16-300e_coco/yolov5_m-v61_syncbn_fast_8xb16-300e_coco_20220917_204944-516a710f.pth',
    # neck and head take other channels than the teacher's (widen 0.5 vs 0.75): no inheriting
    distiller=mgd_distiller(
        source='neck',
        feature_indices=range(3),
        student_channels=[128, 256, 512],
        teacher_channels=[192, 384, 768],
        alpha_mgd=2e-5,
        lambda_mgd=0.65,
    ),
)
# mmyolo's EMA hook stays
default_hooks, custom_hooks = mgd_hooks(base_custom_hooks=_base_.custom_hooks)
