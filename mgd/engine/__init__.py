"""Run-time pieces for mmengine's Runner: crash-safe checkpoints and random-state hooks
(:mod:`mgd.engine.hooks`, registered in the ``mgd.`` scope), and the helpers that write them
into configs (:mod:`mgd.engine.runtime`)."""

from mgd.engine.runtime import detection_clip_grad, mgd_hooks

__all__ = ['detection_clip_grad', 'mgd_hooks']
