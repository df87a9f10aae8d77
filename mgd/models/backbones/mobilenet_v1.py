"""MobileNetV1 (Howard et al., 2017), the ImageNet student of MGD; mmpretrain has none."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from mmcv.cnn import ConvModule
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.registry import MODELS
from torch import nn

from mgd.utils.errors import ConfigError

# (out_channels, stride) of the 13 depthwise-separable layers that follow the 3x3 stem.
DEPTHWISE_SEPARABLE_LAYERS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    *((512, 1),) * 5,
    (1024, 2),
    (1024, 1),
)
STEM_CHANNELS = 32


@MODELS.register_module(name='MobileNetV1')
class MobileNetV1(BaseBackbone):
    """MobileNetV1 at width 1.0: a 3x3 stride-2 stem, then 13 depthwise-separable layers.

    Layer ``i`` (0 = stem, 1..13 = ``3x3 depthwise → BN → ReLU → 1x1 → BN → ReLU``) has the
    output strides 2, 2, 4, 4, 8, 8, 16 (x6), 32, 32 and ends with 1024 channels, as in the
    paper and in the MGD authors' mmcls implementation. Registered in mmpretrain's ``MODELS``.

    Args:
        out_indices: layers whose outputs are returned (13 = the last, 1024 channels).
        frozen_stages: layers ``0..frozen_stages`` are frozen (no gradient, BN in eval mode);
            -1 freezes nothing.
        norm_cfg: normalisation layer config.
        act_cfg: activation layer config.
        init_cfg: mmengine initialisation config (Kaiming convs, BN weight 1 by default).
    """

    def __init__(
        self,
        out_indices: Sequence[int] = (13,),
        frozen_stages: int = -1,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer=['Conv2d']),
                dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
            ]
        super().__init__(init_cfg)
        num_layers = len(DEPTHWISE_SEPARABLE_LAYERS) + 1
        out_indices = tuple(out_indices)
        if not out_indices or any(not 0 <= i < num_layers for i in out_indices):
            raise ConfigError(f'out_indices must be in [0, {num_layers}), got {out_indices}')
        if not -1 <= frozen_stages < num_layers:
            raise ConfigError(f'frozen_stages must be in [-1, {num_layers}), got {frozen_stages}')
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        conv_args = dict(norm_cfg=norm_cfg or dict(type='BN'), act_cfg=act_cfg or dict(type='ReLU'))

        layers = [ConvModule(3, STEM_CHANNELS, 3, stride=2, padding=1, **conv_args)]
        in_channels = STEM_CHANNELS
        for out_channels, stride in DEPTHWISE_SEPARABLE_LAYERS:
            layers.append(
                nn.Sequential(
                    ConvModule(
                        in_channels,
                        in_channels,
                        3,
                        stride=stride,
                        padding=1,
                        groups=in_channels,
                        **conv_args,
                    ),
                    ConvModule(in_channels, out_channels, 1, **conv_args),
                )
            )
            in_channels = out_channels
        self.layers = nn.ModuleList(layers)
        self.out_channels = tuple(
            STEM_CHANNELS if i == 0 else DEPTHWISE_SEPARABLE_LAYERS[i - 1][0] for i in out_indices
        )
        self._freeze_stages()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Returns the outputs of the layers in ``out_indices``, in order."""
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        for layer in self.layers[: self.frozen_stages + 1]:
            layer.eval()
            layer.requires_grad_(False)

    def train(self, mode: bool = True) -> MobileNetV1:
        """Sets the mode; frozen layers (and their BN statistics) stay in eval mode."""
        super().train(mode)
        self._freeze_stages()
        return self
