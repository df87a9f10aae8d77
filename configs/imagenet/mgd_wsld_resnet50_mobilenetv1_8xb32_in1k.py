# MGD + WSLD logit distillation: ResNet-50 -> MobileNetV1, ImageNet top-1 69.21 -> 72.59.
_base_ = ['./mgd_resnet50_mobilenetv1_8xb32_in1k.py']

# MMRazor's WSLD setting (tau 2, weight 2.5); the teacher runs whole to produce its logits.
# The labels are the second input of the student's loss module (mmpretrain's ClsHead).
model = dict(
    teacher_runs='tensor',
    distiller=dict(
        student_recorders=dict(
            logits=dict(type='mmrazor.ModuleOutputs', source='head.fc'),
            gt_labels=dict(type='mmrazor.ModuleInputs', source='head.loss_module'),
        ),
        teacher_recorders=dict(logits=dict(type='mmrazor.ModuleOutputs', source='head.fc')),
        distill_losses=dict(loss_wsld=dict(type='mmrazor.WSLD', tau=2, loss_weight=2.5)),
        loss_forward_mappings=dict(
            loss_wsld=dict(
                student=dict(recorder='logits', from_student=True),
                teacher=dict(recorder='logits', from_student=False),
                gt_labels=dict(recorder='gt_labels', from_student=True, data_idx=1),
            )
        ),
    ),
)
