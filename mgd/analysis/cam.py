"""Where a model looks: Grad-CAM for classifiers, EigenCAM for detectors, side by side.

The heat maps come from pytorch-grad-cam (``grad-cam`` on PyPI, the library mmpretrain's own
``vis_cam.py`` uses); this module only picks the layers, runs each model on the image through
its config's test pipeline and draws one PNG: one row per image, one column per model.

* Classifiers: Grad-CAM on the last backbone stage, for one class per image: the class the
  first model (the teacher) predicts, so that every column shows where its model looks for
  the same class.
* Detectors: EigenCAM (activations only, no class or gradient: the first principal component
  of the features) on the first ``levels`` FPN outputs (P3 at stride 8 upwards), whose maps
  the library averages at the input size. A principal component's sign is arbitrary (the
  library's map can light the background and leave the object dark): each level's component
  is turned to rise where the activations are strong (mean ``|F|`` over channels).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import mmcv
import numpy as np
import torch
from torch import nn

from mgd.analysis.complexity import TensorForward
from mgd.analysis.models import build_model, load_image
from mgd.utils.errors import ConfigError

TILE = 200


class FirstTensor(TensorForward):
    """``model(x, mode='tensor')`` as one tensor: logits, or a detector's first class-score
    map (EigenCAM uses only the activations; the output merely has to exist)."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        out = super().forward(inputs)
        while isinstance(out, list | tuple):
            out = out[0]
        return out


def oriented_eigencam():
    """pytorch-grad-cam's ``EigenCAM`` with each projection's sign chosen so that it
    correlates positively with the activation strength ``mean_c |F|``."""
    from pytorch_grad_cam import EigenCAM
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

    class OrientedEigenCAM(EigenCAM):
        def get_cam_image(self, input_tensor, target_layer, target_category, activations,
                          grads, eigen_smooth):  # fmt: skip
            projections = get_2d_projection(activations)
            strengths = np.abs(activations).mean(axis=1)
            for projection, strength in zip(projections, strengths):
                agreement = (projection - projection.mean()) * (strength - strength.mean())
                if agreement.sum() < 0:
                    projection *= -1
            return projections

    return OrientedEigenCAM


def is_detector(model: nn.Module) -> bool:
    return hasattr(model, 'bbox_head')


def target_layers(model: nn.Module, levels: int = 3) -> list[nn.Module]:
    """The layers the maps are taken from: the first ``levels`` FPN output convs of a
    detector, the last backbone stage of a classifier."""
    if is_detector(model):
        convs = getattr(model.neck, 'fpn_convs', None)
        if convs is None:
            raise ConfigError(f'{type(model.neck).__name__} has no fpn_convs to take maps from')
        if not 1 <= levels <= len(convs):
            raise ConfigError(
                f'--levels {levels}: the FPN has {len(convs)} output levels; pass 1 to {len(convs)}'
            )
        return list(convs)[:levels]
    backbone = model.backbone
    names = getattr(backbone, 'res_layers', None) or getattr(backbone, 'layers', None)
    if names and isinstance(names[-1], str):
        return [getattr(backbone, names[-1])]
    stages = [m for m in backbone.children() if any(p.requires_grad for p in m.parameters())]
    return [stages[-1]]


def heat_map(
    model: nn.Module, inputs: torch.Tensor, target_class: int | None = None, levels: int = 3
) -> tuple[np.ndarray, int | None, float | None]:
    """One image's map (H×W in [0, 1], the input's size) and, for a classifier, the class
    it was taken for and the model's probability of that class."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    wrapped = FirstTensor(model)
    layers = target_layers(model, levels)
    if is_detector(model):
        with oriented_eigencam()(wrapped, layers) as cam:
            return cam(inputs, targets=[None])[0], None, None
    with torch.no_grad():
        probs = wrapped(inputs).softmax(-1)[0]
    target = int(probs.argmax()) if target_class is None else target_class
    with GradCAM(wrapped, layers) as cam:
        grayscale = cam(inputs, targets=[ClassifierOutputTarget(target)])[0]
    return grayscale, target, float(probs[target])


def overlay(image: str, grayscale: np.ndarray) -> np.ndarray:
    """The map over the image (both at TILE×TILE), BGR uint8."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    rgb = mmcv.imresize(mmcv.bgr2rgb(mmcv.imread(image)), (TILE, TILE)).astype(np.float32) / 255
    cam = cv2.resize(grayscale, (TILE, TILE))
    return mmcv.rgb2bgr(show_cam_on_image(rgb, cam, use_rgb=True))


def cam_figure(
    images: Sequence[str],
    models: Sequence[tuple[str, str, str | None]],
    out: str,
    levels: int = 3,
) -> dict[str, list]:
    """Writes the PNG; returns, per model name, the class (and probability) of each image's
    map for classifiers (``[]`` for detectors).

    Args:
        images: image files, one row each.
        models: ``(name, config, checkpoint)``, one column each (a distillation config with
            its checkpoint means its student).
        out: the PNG to write.
        levels: FPN levels of a detector's map.
    """
    from mgd.utils.fileio import write_atomically

    built = [(name, build_model(cfg, ckpt)) for name, cfg, ckpt in models]
    header = np.full((30, TILE * (len(built) + 1), 3), 255, np.uint8)
    for i, title in enumerate(['image', *(name for name, _ in built)]):
        cv2.putText(header, title, (i * TILE + 6, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1)
    rows, classes = [header], {name: [] for name, _ in built}
    for image in images:
        cells = [mmcv.imresize(mmcv.imread(image), (TILE, TILE))]
        target = None
        for name, model in built:
            inputs, _ = load_image(model, image)
            grayscale, target_used, prob = heat_map(model, inputs, target, levels)
            target = target if target is not None else target_used
            cell = overlay(image, grayscale)
            if target_used is not None:
                label = model.dataset_meta.get('classes', [str(target_used)] * (target_used + 1))
                text = f'{label[target_used]} p={prob:.2f}'
                cv2.putText(
                    cell, text, (4, TILE - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1
                )
                classes[name].append((label[target_used], prob))
            cells.append(cell)
        rows.append(np.concatenate(cells, axis=1))
    _, png = cv2.imencode('.png', np.concatenate(rows, axis=0))
    write_atomically({out: png.tobytes()})
    return classes
