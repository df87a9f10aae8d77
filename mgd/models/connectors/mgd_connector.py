"""The MGD connector: align, mask randomly, then generate the teacher's feature."""

from __future__ import annotations

import torch
from mmrazor.models.architectures.connectors.base_connector import BaseConnector
from mmrazor.registry import MODELS
from torch import nn

from mgd.utils.errors import ConfigError


def random_mask(feature: torch.Tensor, lambda_mgd: float, mask_on_channel: bool) -> torch.Tensor:
    """Draws a 0/1 mask that zeroes a fraction ``lambda_mgd`` of ``feature``.

    Args:
        feature: an N×C×H×W tensor; the mask is drawn on its device, in its dtype.
        lambda_mgd: the probability that an element of the mask is 0.
        mask_on_channel: mask whole channels (N,C,1,1) instead of pixels (N,1,H,W).

    Returns:
        The mask, broadcastable to ``feature``.
    """
    n, c, h, w = feature.shape
    shape = (n, c, 1, 1) if mask_on_channel else (n, 1, h, w)
    noise = torch.rand(shape, device=feature.device, dtype=feature.dtype)
    return (noise >= lambda_mgd).to(feature.dtype)


@MODELS.register_module(name='MaskedGenerativeConnector')
class MGDConnector(BaseConnector):
    """Turns a randomly masked student feature into a prediction of the teacher's.

    ``1×1 align (only if channels differ) → random mask → 3×3 conv → ReLU → 3×3 conv``.
    Registered in mmrazor's ``MODELS`` as ``MaskedGenerativeConnector`` so that it is never
    confused with mmrazor's own ``MGDConnector``.

    Args:
        student_channels: channels of the student feature.
        teacher_channels: channels of the teacher feature.
        lambda_mgd: fraction of the student feature zeroed at every call, in [0, 1).
        mask_on_channel: mask channels (classification) instead of pixels (dense tasks).
        init_cfg: mmengine initialisation config.
    """

    def __init__(
        self,
        student_channels: int,
        teacher_channels: int,
        lambda_mgd: float = 0.65,
        mask_on_channel: bool = False,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if not 0 <= lambda_mgd < 1:  # also refuses NaN, for which every comparison is False
            raise ConfigError(
                f'lambda_mgd must be in [0, 1), got {lambda_mgd}: it is the fraction of the '
                'student feature that is masked, and 1 would leave nothing to distil from.'
            )
        for name, value in (
            ('student_channels', student_channels),
            ('teacher_channels', teacher_channels),
        ):
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f'{name} must be a positive int, got {value!r}')
        self.student_channels = student_channels
        self.teacher_channels = teacher_channels
        self.lambda_mgd = lambda_mgd
        self.mask_on_channel = mask_on_channel
        self.align = (
            nn.Conv2d(student_channels, teacher_channels, kernel_size=1)
            if student_channels != teacher_channels
            else None
        )
        self.generation = nn.Sequential(
            nn.Conv2d(teacher_channels, teacher_channels, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(teacher_channels, teacher_channels, kernel_size=3, padding=1),
        )

    def forward_train(self, feature: torch.Tensor) -> torch.Tensor:
        """Returns the generated N×teacher_channels×H×W feature."""
        if feature.dim() != 4 or feature.shape[1] != self.student_channels:
            raise ConfigError(
                f'{type(self).__name__} expects an N×{self.student_channels}×H×W student '
                f'feature, got shape {tuple(feature.shape)}: set student_channels to the '
                "recorded feature's channel count."
            )
        if self.align is not None:
            feature = self.align(feature)
        masked = feature * random_mask(feature, self.lambda_mgd, self.mask_on_channel)
        return self.generation(masked)
