"""Spatial attention of the distilled features: where a model's features are strong.

For each distilled feature map F (C x H x W) the attention is ``mean_c |F_c|``, min-max
normalised to [0, 1] per map, the spatial attention of FGD/MGD's analysis. The distilled
features are a detector's FPN outputs (``model.extract_feat``) and a classifier's last
backbone stage, as in this repo's configs.
"""

from __future__ import annotations

import math
import os
import os.path as osp
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from mgd.analysis.models import build_model, load_image
from mgd.utils.errors import ConfigError

CELL_INCHES = 2.2  # side of one panel
DPI = 100


def distilled_features(model: nn.Module, inputs: torch.Tensor) -> list[torch.Tensor]:
    """The features MGD distils for ``model``: every FPN level, or the last backbone stage.

    Args:
        model: an mmdet detector or an mmpretrain classifier.
        inputs: a preprocessed batch (N x 3 x H x W).

    Returns:
        One N x C x h x w tensor per distilled feature.
    """
    from mmdet.models.detectors import BaseDetector

    with torch.no_grad():
        if isinstance(model, BaseDetector):
            features = model.extract_feat(inputs)
        else:  # a classifier: MGD distils the last backbone stage
            features = model.backbone(inputs)[-1]
    return list(features) if isinstance(features, list | tuple) else [features]


def spatial_attention(feature: torch.Tensor) -> np.ndarray:
    """``mean_c |F|`` of one C x H x W (or 1 x C x H x W) feature, scaled to [0, 1].

    A constant map (no spatial contrast) becomes all zeros.
    """
    if feature.dim() == 4:
        feature = feature[0]
    attention = feature.detach().float().abs().mean(dim=0)
    low, high = attention.min(), attention.max()
    attention = (attention - low) / (high - low) if high > low else torch.zeros_like(attention)
    return attention.cpu().numpy()


def attention_maps(model: nn.Module, image: str) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """Runs ``image`` through the test pipeline and ``model``.

    Returns:
        The input as the model sees it (H x W x 3, uint8 RGB, unpadded) and per distilled
        feature a ``(level name, attention map)`` pair. A detector's levels are named as FPN
        levels are, by their stride (``P3``: stride 8), a classifier's is ``last stage``.
    """
    from mmdet.models.detectors import BaseDetector

    inputs, sample = load_image(model, image)
    features = distilled_features(model, inputs)
    levels = []
    for feature in features:
        if isinstance(model, BaseDetector):
            # Sizes are rounded up level by level (224 -> 28, 14, 7, 4, 2): take the nearest
            # power of two of the size ratio as the stride.
            level = round(math.log2(inputs.shape[-1] / feature.shape[-1]))
            name = f'P{level}'
        else:
            name = 'last stage'
        levels.append((name, spatial_attention(feature)))
    return model_input_image(model, inputs, sample), levels


def model_input_image(model: nn.Module, inputs: torch.Tensor, sample: object) -> np.ndarray:
    """Undoes the preprocessor's normalisation: the (unpadded) image the model saw, RGB uint8."""
    image = inputs[0].detach().float().cpu()
    preprocessor = model.data_preprocessor
    if getattr(preprocessor, '_enable_normalize', False):
        image = image * preprocessor.std.cpu() + preprocessor.mean.cpu()
    height, width = sample.metainfo.get('img_shape', image.shape[-2:])[:2]
    image = image[:, :height, :width]
    if not (
        getattr(preprocessor, '_channel_conversion', False)
        or getattr(preprocessor, 'to_rgb', False)
    ):
        image = image.flip(0)  # the model reads BGR: show RGB
    return image.clamp(0, 255).byte().permute(1, 2, 0).numpy()


def plot_attention(
    rows: Sequence[tuple[str, np.ndarray, Sequence[tuple[str, np.ndarray]]]], out: str
) -> str:
    """Writes one PNG: per model a row with its input image, then one attention map per level
    (coloured by mmengine's ``Visualizer.draw_featmap``).

    The figure is ``(1 + levels) * CELL_INCHES`` by ``rows * CELL_INCHES`` inches at ``DPI``
    (levels: the most any model has), so its pixel size is fixed by the grid.

    Args:
        rows: ``(model name, input image, [(level name, attention map), ...])`` per model.
        out: the PNG to write (folders are created).

    Returns:
        ``out``.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from mmengine.visualization import Visualizer

    cols = 1 + max(len(levels) for _, _, levels in rows)
    fig, axes = plt.subplots(
        len(rows),
        cols,
        figsize=(cols * CELL_INCHES, len(rows) * CELL_INCHES),
        dpi=DPI,
        squeeze=False,
    )
    for axes_row, (name, image, levels) in zip(axes, rows):
        axes_row[0].imshow(image)
        axes_row[0].set_title(f'{name}: input\n{image.shape[0]}x{image.shape[1]}', fontsize=8)
        for axis, (level, attention) in zip(axes_row[1:], levels):
            # A one-channel feature: its "mean" is the map, min-max scaled and jet-coloured.
            heatmap = Visualizer.draw_featmap(
                torch.from_numpy(attention)[None], channel_reduction='squeeze_mean'
            )
            axis.imshow(heatmap, interpolation='nearest')
            axis.set_title(
                f'{name}: {level}\n{attention.shape[0]}x{attention.shape[1]}', fontsize=8
            )
        for axis in axes_row:
            axis.axis('off')
    fig.suptitle('spatial attention mean_c |F| (normalised to [0, 1] per map)', fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=DPI)  # no bbox_inches='tight': the pixel size stays the grid's
    plt.close(fig)
    return out


def feature_figure(
    image: str,
    models: Sequence[tuple[str, str | None]],
    out: str,
    names: Sequence[str] | None = None,
    device: str = 'cpu',
) -> str:
    """The attention PNG of ``image`` for several ``(config, checkpoint)`` pairs.

    Args:
        image: an image file.
        models: ``(config path, checkpoint path or None)`` per model; a distillation config
            means its student.
        out: the PNG to write.
        names: a row title per model (default: the config file names).
        device: where the models run.

    Returns:
        ``out``.
    """
    if names is None:
        names = [osp.splitext(osp.basename(config))[0] for config, _ in models]
    if len(names) != len(models):
        raise ConfigError(f'{len(names)} names for {len(models)} models')
    rows = []
    for name, (config, checkpoint) in zip(names, models):
        model = build_model(config, checkpoint, device)
        rows.append((name, *attention_maps(model, image)))
    return plot_attention(rows, out)
