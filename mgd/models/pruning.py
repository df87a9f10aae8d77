"""Channel pruning of a trained model with mmrazor, to a FLOPs target, for "prune, then distil".

mmrazor's ``ChannelMutator`` traces the model into channel units (channels that must be pruned
together: a residual group, an FPN's lateral convs...); each unit keeps its most important
channels, by the L1 norm of its filters (mmrazor's ``L1MutableChannelUnit``) or by the |scale|
of its BatchNorms (``BNScaleMutableChannelUnit`` below, network slimming's criterion). One keep
ratio for every unit is found by bisection on mmrazor's ``ResourceEstimator`` FLOPs; units named
in ``keep`` stay whole (by default the FPN outputs, the features MGD distils). The pruned model
is exported as a structure (channels per unit, ``fix_subnet.json``) and a checkpoint of the
static, sliced weights (``pruned.pth``); mmrazor's ``GroupFisherDeploySubModel`` rebuilds it
from the original config plus both files (:func:`pruned_model_cfg`).
"""

from __future__ import annotations

import os.path as osp
from collections.abc import Sequence

import torch
from mmengine.registry import DefaultScope
from mmrazor.models.mutables import L1MutableChannelUnit
from mmrazor.registry import MODELS
from torch import nn

from mgd.utils.distill_config import is_distillation
from mgd.utils.errors import ConfigError

IMPORTANCE = {'l1': 'L1MutableChannelUnit', 'bn': 'BNScaleMutableChannelUnit'}


@MODELS.register_module()
class BNScaleMutableChannelUnit(L1MutableChannelUnit):
    """Channels ranked by the mean |γ| of the BatchNorms they feed (Liu et al., network
    slimming); units without a BatchNorm (a head's last convs) fall back to the L1 norm."""

    def _get_unit_norm(self) -> torch.Tensor:
        scales = [
            channel.module.weight.detach().abs()[channel.start : channel.end]
            for channel in self.output_related
            if isinstance(channel.module, nn.modules.batchnorm._BatchNorm)
        ]
        return sum(scales) / len(scales) if scales else super()._get_unit_norm()


def parse_cfg(input_shape: Sequence[int]) -> dict:
    """mmrazor's channel analyser, tracing with torch.fx on one input of ``input_shape``."""
    return dict(
        _scope_='mmrazor',
        type='ChannelAnalyzer',
        demo_input=(1, *input_shape),
        tracer_type='FxTracer',
    )


def prune_to_flops(
    model: nn.Module,
    state_dict: dict,
    flops_ratio: float,
    importance: str = 'l1',
    input_shape: Sequence[int] = (3, 256, 256),
    keep: Sequence[str] = ('neck.fpn_convs',),
) -> tuple[dict[str, int], nn.Module, tuple[float, float]]:
    """Prunes ``model`` (with ``state_dict``'s weights) to about ``flops_ratio`` of its FLOPs.

    Args:
        model: the built model, not yet loaded (its layers are swapped first; loading after
            that is what makes the importance scores the trained ones).
        state_dict: the trained weights.
        flops_ratio: the FLOPs to keep, in (0, 1).
        importance: ``'l1'`` (filter L1 norm) or ``'bn'`` (BatchNorm |γ|).
        input_shape: (C, H, W) the FLOPs are counted on.
        keep: unit-name prefixes that are never pruned.

    Returns:
        ``(structure, pruned model, (FLOPs before, FLOPs after) in M)``: the channels each unit
        keeps (``fix_subnet.json``), and the static model with the kept channels' weights.
    """
    from mmrazor.models.mutators import ChannelMutator
    from mmrazor.models.task_modules import ResourceEstimator
    from mmrazor.structures.subnet import export_fix_subnet, load_fix_subnet

    if not 0 < flops_ratio < 1:
        raise ConfigError(f'flops_ratio must be in (0, 1), got {flops_ratio}')
    if importance not in IMPORTANCE:
        raise ConfigError(f'importance must be one of {list(IMPORTANCE)}, got {importance!r}')
    mutator = ChannelMutator(
        channel_unit_cfg=dict(type=IMPORTANCE[importance]), parse_cfg=parse_cfg(input_shape)
    )
    with DefaultScope.overwrite_default_scope('mmrazor'):
        mutator.prepare_from_supernet(model)
    # after prepare_from_supernet: it replaces the layers with freshly initialised ones
    model.load_state_dict(state_dict, strict=True)
    model.eval()
    estimator = ResourceEstimator(input_shape=(1, *input_shape), units=dict(flops='M', params='M'))
    units = list(mutator.mutable_units)

    def choices(ratio: float) -> dict[str, int]:
        return {
            unit.name: unit.num_channels
            if unit.name.startswith(tuple(keep))
            else max(1, round(unit.num_channels * ratio))
            for unit in units
        }

    full = estimator.estimate(model)['flops']
    low, high = 0.0, 1.0
    for _ in range(14):  # the largest uniform keep ratio whose FLOPs stay within the target
        middle = (low + high) / 2
        mutator.set_choices(choices(middle))
        if estimator.estimate(model)['flops'] / full > flops_ratio:
            high = middle
        else:
            low = middle
    structure = choices(low)
    mutator.set_choices(structure)
    pruned = estimator.estimate(model)['flops']
    load_fix_subnet(model, export_fix_subnet(model)[0])  # dynamic layers -> static, sliced
    return structure, model, (full, pruned)


def pruned_config(
    base: str, fix_subnet: str, checkpoint: str, input_shape: Sequence[int], scope: str
) -> str:
    """The text of a config that is ``base`` with its model (a distillation config: its
    student, then not inherited) rebuilt pruned by mmrazor's ``GroupFisherDeploySubModel``
    from the structure and the sliced weights.

    The structure holds channel counts only: it must go with ``checkpoint`` (the pruned
    weights), never with the original checkpoint. ``scope``: the config's ``default_scope``
    (the model is built inside mmrazor's).
    """
    from mmengine.config import Config

    distill = is_distillation(Config.fromfile(base))
    source = '_base_.model.architecture' if distill else '_base_.model'
    pruned = (
        "dict(\n        _delete_=True,\n        type='mmrazor.GroupFisherDeploySubModel',\n"
        f'        architecture=dict(\n            {source},\n            _scope_={scope!r},\n'
        f'            # every weight comes from the pruned checkpoint: no backbone download\n'
        f'            backbone=dict({source}.backbone, init_cfg=None),\n'
        f"            init_cfg=dict(type='Pretrained', checkpoint={checkpoint!r}),\n        ),\n"
        f'        fix_subnet={fix_subnet!r},\n        divisor=1,\n'
        f'        parse_cfg={parse_cfg(input_shape)!r},\n    )'
    )
    model = (
        f"model = dict(\n    inherit=(),  # the pruned neck/head no longer match the teacher's\n"
        f'    architecture={pruned},\n)\n'
        if distill
        else f'model = {pruned}\n'
    )
    header = f'# Written by tools/prune.py: {base} with the pruned model.\n'
    return f'{header}_base_ = [{osp.abspath(base)!r}]\n\n{model}'
