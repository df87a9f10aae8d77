"""The hooks and the gradient clipping that mgd's configs share, written once.

A config built on a stock OpenMMLab config cannot take these from a ``_base_`` runtime file:
mmengine refuses a key (``default_hooks``, ``optim_wrapper``) that two ``_base_`` files both
set. So configs call these helpers; the resolved config (``print(cfg.pretty_text)``) shows the
hooks as if written by hand::

    from mgd.engine import mgd_hooks
    default_hooks, custom_hooks = mgd_hooks()
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ['detection_clip_grad', 'mgd_hooks']


def mgd_hooks(
    checkpoint: dict | None = None, base_custom_hooks: Sequence = (), **default_hooks: dict
) -> tuple[dict, list]:
    """``default_hooks`` and ``custom_hooks`` of every mgd config.

    Crash-safe checkpoints (``mgd.AtomicCheckpointHook``, the arguments of mmengine's
    ``CheckpointHook``), an exact resume (``mgd.RNGStateHook``), a stop at the first NaN or
    infinite loss (``mgd.FiniteLossHook``) and the check that lets ``model.teacher_cache``
    work (``mgd.TeacherCacheHook``); see :mod:`mgd.engine.hooks`.

    Args:
        checkpoint: arguments of the checkpoint hook (``interval``, ``max_keep_ckpts``, ...).
        base_custom_hooks: the base config's ``custom_hooks`` to keep (a list in a child
            config replaces the base's: mmyolo's EMA and pipeline-switch hooks would be lost).
        **default_hooks: other ``default_hooks`` entries to change (``logger=dict(...)``).

    Returns:
        ``(default_hooks, custom_hooks)``, merged by mmengine into the base config's.
    """
    hooks = dict(checkpoint=dict(type='mgd.AtomicCheckpointHook', **(checkpoint or {})))
    hooks.update(default_hooks)
    ours = [
        dict(type='mgd.RNGStateHook'),
        dict(type='mgd.FiniteLossHook'),
        dict(type='mgd.TeacherCacheHook'),
    ]
    return hooks, [*base_custom_hooks, *ours]


def detection_clip_grad() -> dict:
    """The authors' gradient clipping in every detection setting (max norm 35, L2)."""
    return dict(max_norm=35, norm_type=2)
