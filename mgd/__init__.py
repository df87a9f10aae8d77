"""Masked Generative Distillation (ECCV 2022) as an mmrazor/mmdet/mmpretrain plugin.

Importing ``mgd`` does nothing else: configs register what they use through
``custom_imports = dict(imports=['mgd.models'])`` (which also applies the stack fixes of
``mgd.compat.stack``), and ``mgd.``-scoped types (hooks, datasets) through ``mgd.registry``.
"""

__version__ = '0.1.0'
__all__ = ['__version__']
