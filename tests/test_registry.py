"""Our classes build by name from mmrazor's registry, and never shadow mmrazor's own MGD."""

from __future__ import annotations

import mgd.models  # noqa: F401  (first: its compat fixes let mmrazor import on torch 2)

# isort: split

import pytest
import torch
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmrazor.models.architectures.connectors import MGDConnector as MMRazorMGDConnector
from mmrazor.models.losses import MGDLoss as MMRazorMGDLoss
from mmrazor.registry import MODELS
from torch import nn

from mgd.models import MGDConnector, MGDDistill, MGDLoss, mgd_distiller


class _TupleConv(nn.Conv2d):
    """A 'neck' that returns a tuple of levels, as an FPN does."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (super().forward(x),)


class _Toy(BaseModel):
    """The smallest model a distiller can record from (not registered anywhere)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.neck = _TupleConv(3, channels, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.neck(inputs)


def distill_cfg(**scope) -> dict:
    return dict(
        type='MGDDistill',
        architecture=_Toy(4),
        teacher=_Toy(8),
        distiller=mgd_distiller('neck', [0], 4, 8, alpha_mgd=2e-5, lambda_mgd=0.65),
        **scope,
    )


CONFIGS = {
    'MaskedGenerativeConnector': (dict(student_channels=4, teacher_channels=8), MGDConnector),
    'MaskedGenerativeLoss': (dict(alpha_mgd=2e-5), MGDLoss),
}


# Each case fixes the default scope itself: a Runner or inferencer run earlier in the same
# process leaves its scope (e.g. mmdet) current, under which unprefixed mmrazor names fail.
BUILDS = {
    'plain': ('mmrazor', '', {}),  # what mmrazor's own configs do
    'scoped': ('mmdet', '', dict(_scope_='mmrazor')),
    'prefixed': ('mmdet', 'mmrazor.', {}),  # what our configs do (mgd_distiller, MGDDistill)
}


@pytest.mark.parametrize('how', list(BUILDS))
@pytest.mark.parametrize('name', list(CONFIGS))
def test_our_names_build_our_classes(name, how):
    kwargs, cls = CONFIGS[name]
    default_scope, prefix, scope = BUILDS[how]
    with DefaultScope.overwrite_default_scope(default_scope):
        built = MODELS.build(dict(type=prefix + name, **kwargs, **scope))
    assert type(built) is cls
    assert type(built).__module__.startswith('mgd.models.')


@pytest.mark.parametrize('how', list(BUILDS))
def test_mgd_distill_builds_with_our_connector_and_loss(how):
    default_scope, prefix, scope = BUILDS[how]
    cfg = dict(distill_cfg(**scope), type=prefix + 'MGDDistill')
    with DefaultScope.overwrite_default_scope(default_scope):
        algorithm = MODELS.build(cfg)
    assert type(algorithm) is MGDDistill
    assert type(algorithm.distiller.connectors['mgd_neck0']) is MGDConnector
    assert type(algorithm.distiller.distill_losses['loss_mgd_neck0']) is MGDLoss


def test_reachable_with_scope_prefix_from_an_mmdet_config():
    """Detection configs run with ``default_scope='mmdet'``; ``mmrazor.`` reaches our names."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        built = MMDET_MODELS.build(dict(type='mmrazor.MaskedGenerativeLoss'))
    assert type(built) is MGDLoss


def test_mmrazor_names_still_give_mmrazor_classes():
    with DefaultScope.overwrite_default_scope('mmrazor'):
        connector = MODELS.build(dict(type='MGDConnector', student_channels=4, teacher_channels=8))
        loss = MODELS.build(dict(type='MGDLoss', alpha_mgd=2e-5))
    assert type(connector) is MMRazorMGDConnector and type(connector) is not MGDConnector
    assert type(loss) is MMRazorMGDLoss and type(loss) is not MGDLoss
    assert MODELS.get('MaskedGenerativeConnector') is MGDConnector
    assert MODELS.get('MaskedGenerativeLoss') is MGDLoss
    assert MODELS.get('MGDDistill') is MGDDistill
