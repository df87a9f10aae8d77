"""Fixes for the pinned stack (torch 2.9, mmengine 0.10.7, mmcv 2.1.0, mmdet 3.3.0, mmrazor
1.0.0, mmpretrain 1.2.0): :mod:`mgd.compat.stack` for the packages' known breakages,
:mod:`mgd.compat.cuda_ops` for mmcv's CUDA ops on a build without them. ``import mgd.models``
calls :func:`apply`; nothing here edits an installed package."""

from mgd.compat.stack import apply

__all__ = ['apply']
