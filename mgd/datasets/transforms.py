"""Contrast enhancement for low-contrast defects, as a data transform (``mgd.ContrastEnhance``).

A config lists it in its pipelines, right after the image is loaded, so that every launcher
(``tools/train.py``, ``Runner.from_cfg``, ``mim train``) runs it; :func:`with_contrast_enhancement`
writes it into a base config's pipeline (``configs/neu_det/*_clahe_*.py``).
"""

from __future__ import annotations

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from mgd.registry import TRANSFORMS
from mgd.utils.errors import ConfigError

METHODS = ('hist_eq', 'clahe')


def enhance_gray(img: np.ndarray, method: str, clip_limit: float, tile_grid_size) -> np.ndarray:
    """One uint8 H×W channel: OpenCV's global histogram equalisation, or CLAHE (via mmcv)."""
    if method == 'hist_eq':
        return cv2.equalizeHist(img)
    return mmcv.clahe(img, clip_limit, tuple(tile_grid_size))


def enhance(
    img: np.ndarray, method: str, clip_limit: float = 2.0, tile_grid_size=(8, 8)
) -> np.ndarray:
    """Enhances a uint8 image: H×W, or H×W×3 BGR.

    A grey image (2-D, or three equal channels as NEU-DET's JPEGs) is enhanced as one channel
    (copied back into three); a colour image on its lightness (L of CIE Lab), so that hues are
    kept, as equalising B, G and R separately would not.
    """
    if img.dtype != np.uint8:
        raise ConfigError(f'ContrastEnhance needs uint8 images, got {img.dtype}')
    if img.ndim == 2:
        return enhance_gray(img, method, clip_limit, tile_grid_size)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ConfigError(f'ContrastEnhance needs H×W or H×W×3 images, got shape {img.shape}')
    if (img[..., 0] == img[..., 1]).all() and (img[..., 0] == img[..., 2]).all():
        gray = enhance_gray(np.ascontiguousarray(img[..., 0]), method, clip_limit, tile_grid_size)
        return np.repeat(gray[..., None], 3, axis=2)
    lab = cv2.cvtColor(img, cv2.COLOR_BGR2LAB)
    lab[..., 0] = enhance_gray(
        np.ascontiguousarray(lab[..., 0]), method, clip_limit, tile_grid_size
    )
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def check_arguments(method: str, clip_limit: float, tile_grid_size) -> None:
    """Raises ValueError naming the argument of ``ContrastEnhance`` that is wrong."""
    if method not in METHODS:
        raise ConfigError(f'ContrastEnhance method must be one of {METHODS}, got {method!r}')
    if not isinstance(clip_limit, int | float) or not clip_limit > 0:
        raise ConfigError(f'ContrastEnhance clip_limit must be > 0, got {clip_limit!r}')
    if len(tile_grid_size) != 2 or not all(isinstance(t, int) and t > 0 for t in tile_grid_size):
        raise ConfigError(
            f'ContrastEnhance tile_grid_size must be two ints > 0, got {tile_grid_size!r}'
        )


def with_contrast_enhancement(
    pipeline: list, method: str = 'clahe', clip_limit: float = 2.0, tile_grid_size=(8, 8)
) -> list:
    """A copy of a data pipeline with ``mgd.ContrastEnhance`` right after the image is loaded.

    For configs: ``pipeline=with_contrast_enhancement(_base_.train_dataloader.dataset.pipeline,
    'clahe')``. The other steps are kept as they are.

    Raises:
        ValueError: a wrong argument, a pipeline that already enhances, or one without a
            ``LoadImageFrom*`` step to insert after.
    """
    check_arguments(method, clip_limit, tile_grid_size)
    types = [str(step.get('type', '')) for step in pipeline]
    if any(t.endswith('ContrastEnhance') for t in types):
        raise ConfigError(f'the pipeline already has a ContrastEnhance step: {types}')
    loads = [i for i, t in enumerate(types) if 'LoadImageFrom' in t]
    if not loads:
        raise ConfigError(
            f'the pipeline {types} has no LoadImageFrom* step to put ContrastEnhance after: '
            "write dict(type='mgd.ContrastEnhance', ...) into it where the image is loaded."
        )
    step = dict(
        type='mgd.ContrastEnhance',
        method=method,
        clip_limit=clip_limit,
        tile_grid_size=tuple(tile_grid_size),
    )
    return [*pipeline[: loads[0] + 1], step, *pipeline[loads[0] + 1 :]]


@TRANSFORMS.register_module()
class ContrastEnhance(BaseTransform):
    """Global histogram equalisation (``method='hist_eq'``) or CLAHE (``'clahe'``) of
    ``results['img']``.

    Args:
        method: ``'hist_eq'`` or ``'clahe'``.
        clip_limit: CLAHE's contrast limit (as ``mmcv.clahe``; OpenCV's usual 2.0 here).
        tile_grid_size: CLAHE's tiles (rows, columns).
    """

    def __init__(self, method: str = 'clahe', clip_limit: float = 2.0, tile_grid_size=(8, 8)):
        check_arguments(method, clip_limit, tile_grid_size)
        self.method = method
        self.clip_limit = float(clip_limit)
        self.tile_grid_size = tuple(tile_grid_size)

    def transform(self, results: dict) -> dict:
        results['img'] = enhance(results['img'], self.method, self.clip_limit, self.tile_grid_size)
        return results

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(method={self.method!r}, clip_limit={self.clip_limit}, '
            f'tile_grid_size={self.tile_grid_size})'
        )
