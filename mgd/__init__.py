"""Masked Generative Distillation (ECCV 2022) as an mmrazor/mmdet/mmpretrain plugin."""

from mgd import compat

compat.apply()

from mgd import hooks, models  # noqa: E402  (registers our classes; needs the fixes above)

__version__ = '0.1.0'
__all__ = ['hooks', 'models', 'compat', '__version__']
