"""The MGD loss: a scaled sum of squared errors per image."""

from __future__ import annotations

import math

import torch
from mmrazor.registry import MODELS
from torch import nn

from mgd.utils.errors import ConfigError


@MODELS.register_module(name='MaskedGenerativeLoss')
class MGDLoss(nn.Module):
    """``alpha_mgd · Σ (S − T)² / N``, accumulated in float32 whatever the input dtype.

    Registered in mmrazor's ``MODELS`` as ``MaskedGenerativeLoss`` so that it is never
    confused with mmrazor's own ``MGDLoss``.

    Args:
        alpha_mgd: the loss weight (≥ 0).
    """

    def __init__(self, alpha_mgd: float = 2e-5) -> None:
        super().__init__()
        if not math.isfinite(alpha_mgd) or alpha_mgd < 0:
            raise ConfigError(
                f'alpha_mgd must be a finite number >= 0, got {alpha_mgd}: it weights the MGD '
                'loss (the paper uses 2e-5 for RetinaNet, 5e-7 for two-stage, 7e-5 on ImageNet).'
            )
        self.alpha_mgd = alpha_mgd

    def forward(self, preds_S: torch.Tensor, preds_T: torch.Tensor) -> torch.Tensor:  # noqa: N803
        """Computes the loss.

        Args:
            preds_S: the generated student feature, N×C×H×W.
            preds_T: the teacher feature, same shape.

        Returns:
            A float32 scalar.
        """
        if preds_S.shape != preds_T.shape:
            raise ConfigError(
                f'MGD loss needs student and teacher features of one shape, got student '
                f'{tuple(preds_S.shape)} and teacher {tuple(preds_T.shape)}: check the '
                'connector channels and that both features come from the same level.'
            )
        # fp16/bf16 squares overflow or lose precision: subtract and sum in float32.
        with torch.autocast(device_type=preds_S.device.type, enabled=False):
            diff = preds_S.float() - preds_T.detach().float()
            return self.alpha_mgd * diff.pow(2).sum() / preds_S.shape[0]
