# MGD + channel-wise logit distillation, as the official code trains (use_logit=True): the
# published PSPNet R18 69.85 -> 73.63 mIoU. The teacher runs whole for its logits; the
# decode heads' logits (conv_seg outputs, 19 x 1/8 resolution) enter mmrazor's
# ChannelWiseDivergence with tau 4 and weight 3, the official values and formula.
_base_ = ['./mgd_pspnet_r101_pspnet_r18_8xb2-40k_cityscapes-512x512.py']

__logits = dict(type='mmrazor.ModuleOutputs', source='decode_head.conv_seg')  # '__': no key
model = dict(
    teacher_runs='tensor',
    distiller=dict(
        student_recorders=dict(logits=__logits),
        teacher_recorders=dict(logits=__logits),
        distill_losses=dict(
            loss_cwd=dict(type='mmrazor.ChannelWiseDivergence', tau=4, loss_weight=3)
        ),
        loss_forward_mappings=dict(
            loss_cwd=dict(
                preds_S=dict(recorder='logits', from_student=True),
                preds_T=dict(recorder='logits', from_student=False),
            )
        ),
    ),
)
