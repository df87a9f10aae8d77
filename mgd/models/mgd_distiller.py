"""Builds the per-feature part of MGD configs, so that no config pastes five copies.

Used from config files (after ``_base_``), e.g.::

    from mgd.models import mgd_distiller
    distiller = mgd_distiller(source='neck', feature_indices=range(5), student_channels=256,
                              teacher_channels=256, alpha_mgd=2e-5, lambda_mgd=0.65)
"""

from __future__ import annotations

from collections.abc import Iterable


def mgd_distiller(
    source: str,
    feature_indices: Iterable[int],
    student_channels: int,
    teacher_channels: int,
    alpha_mgd: float,
    lambda_mgd: float,
    mask_on_channel: bool = False,
    teacher_source: str | None = None,
) -> dict:
    """An mmrazor ``ConfigurableDistiller`` config with one MGD loss per feature.

    One recorder per model records the output of ``source`` (e.g. ``neck``, whose output is the
    tuple of FPN levels, or ``backbone``); each distilled feature is picked with ``data_idx``.

    Args:
        source: the module whose output is recorded in the student (and the teacher).
        feature_indices: indices into that output (FPN levels, or the backbone's out_indices).
        student_channels: channels of each student feature.
        teacher_channels: channels of each teacher feature.
        alpha_mgd: loss weight.
        lambda_mgd: masked fraction.
        mask_on_channel: channel mask (classification) instead of a spatial one.
        teacher_source: the teacher's module if it differs from ``source``.

    Returns:
        The distiller config dict; losses are named ``loss_mgd_{source}{i}``. Types carry the
        ``mmrazor.`` scope, so the dict builds whatever the config's ``default_scope``.
    """
    indices = list(feature_indices)
    recorder = dict(type='mmrazor.ModuleOutputs', source=source)
    teacher_recorder = dict(type='mmrazor.ModuleOutputs', source=teacher_source or source)
    return dict(
        type='mmrazor.ConfigurableDistiller',
        student_recorders=dict(feats=recorder),
        teacher_recorders=dict(feats=teacher_recorder),
        connectors={
            f'mgd_{source}{i}': dict(
                type='mmrazor.MaskedGenerativeConnector',
                student_channels=student_channels,
                teacher_channels=teacher_channels,
                lambda_mgd=lambda_mgd,
                mask_on_channel=mask_on_channel,
            )
            for i in indices
        },
        distill_losses={
            f'loss_mgd_{source}{i}': dict(type='mmrazor.MaskedGenerativeLoss', alpha_mgd=alpha_mgd)
            for i in indices
        },
        loss_forward_mappings={
            f'loss_mgd_{source}{i}': dict(
                preds_S=dict(
                    from_student=True, recorder='feats', data_idx=i, connector=f'mgd_{source}{i}'
                ),
                preds_T=dict(from_student=False, recorder='feats', data_idx=i),
            )
            for i in indices
        },
    )
