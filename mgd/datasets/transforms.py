"""Contrast enhancement for low-contrast defects, as a data transform (``mgd.ContrastEnhance``).

Configs do not list it: the tools insert it after ``LoadImageFromFile`` in every pipeline when
the config's top-level ``contrast_enhancement`` is set (``mgd.utils.config``), so that one key
(``--cfg-options contrast_enhancement=clahe``) switches it for training and testing alike.
"""

from __future__ import annotations

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from mgd.registry import TRANSFORMS

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
        raise ValueError(f'ContrastEnhance needs uint8 images, got {img.dtype}')
    if img.ndim == 2:
        return enhance_gray(img, method, clip_limit, tile_grid_size)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'ContrastEnhance needs H×W or H×W×3 images, got shape {img.shape}')
    if (img[..., 0] == img[..., 1]).all() and (img[..., 0] == img[..., 2]).all():
        gray = enhance_gray(np.ascontiguousarray(img[..., 0]), method, clip_limit, tile_grid_size)
        return np.repeat(gray[..., None], 3, axis=2)
    lab = cv2.cvtColor(img, cv2.COLOR_BGR2LAB)
    lab[..., 0] = enhance_gray(
        np.ascontiguousarray(lab[..., 0]), method, clip_limit, tile_grid_size
    )
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


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
        if method not in METHODS:
            raise ValueError(
                f'contrast_enhancement method must be one of {METHODS}, got {method!r}'
            )
        if not clip_limit > 0:
            raise ValueError(f'contrast_enhancement clip_limit must be > 0, got {clip_limit!r}')
        if len(tile_grid_size) != 2 or not all(
            isinstance(t, int) and t > 0 for t in tile_grid_size
        ):
            raise ValueError(
                f'contrast_enhancement tile_grid_size must be two ints > 0, got {tile_grid_size!r}'
            )
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
