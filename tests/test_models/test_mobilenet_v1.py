"""MobileNetV1: layer shapes, parameter count, out_indices and frozen layers."""

import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

import mgd.models  # noqa: F401  (first: its compat fixes let mmrazor import on torch 2)
from mgd.models import MobileNetV1


def test_registered_in_mmpretrain():
    assert MODELS.get('MobileNetV1') is MobileNetV1


def test_outputs_every_layer_at_its_stride():
    backbone = MobileNetV1(out_indices=range(14))
    outs = backbone(torch.rand(1, 3, 64, 64))
    channels = [32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]
    strides = [2, 2, 4, 4, 8, 8, 16, 16, 16, 16, 16, 16, 32, 32]
    expected = [(1, c, 64 // s, 64 // s) for c, s in zip(channels, strides)]
    assert [tuple(o.shape) for o in outs] == expected
    assert backbone.out_channels == tuple(channels)


def test_default_is_the_last_layer_1024_at_stride_32():
    outs = MobileNetV1()(torch.rand(2, 3, 224, 224))
    assert len(outs) == 1 and outs[0].shape == (2, 1024, 7, 7)


def test_parameter_count_matches_the_paper():
    # Howard et al. report 4.2M for the 1000-class MobileNetV1-1.0; Keras' MobileNet has
    # exactly 4,231,976 trainable parameters. The backbone alone (no fc) is 3.2M:
    # 4,231,976 - (1024 * 1000 + 1000).
    backbone = MobileNetV1()
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # not a scope an earlier test left
        classifier = MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=dict(type='MobileNetV1'),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(type='LinearClsHead', num_classes=1000, in_channels=1024),
            )
        )
    assert sum(p.numel() for p in backbone.parameters()) == 3_206_976
    assert sum(p.numel() for p in classifier.parameters()) == 4_231_976


def test_depthwise_layers_are_grouped():
    backbone = MobileNetV1()
    depthwise = backbone.layers[13][0].conv
    assert depthwise.groups == 1024 and depthwise.weight.shape == (1024, 1, 3, 3)
    assert backbone.layers[13][1].conv.weight.shape == (1024, 1024, 1, 1)


def test_frozen_stages_keep_weights_and_statistics():
    backbone = MobileNetV1(frozen_stages=1)
    backbone.train()
    frozen, trained = list(backbone.layers[:2]), list(backbone.layers[2:])
    assert not any(p.requires_grad for layer in frozen for p in layer.parameters())
    assert all(p.requires_grad for layer in trained for p in layer.parameters())
    assert not any(m.training for layer in frozen for m in layer.modules())
    assert all(m.training for layer in trained for m in layer.modules())
    running_mean = backbone.layers[0].bn.running_mean.clone()
    backbone(torch.rand(2, 3, 32, 32))[0].sum().backward()
    assert torch.equal(backbone.layers[0].bn.running_mean, running_mean)
    assert backbone.layers[0].conv.weight.grad is None
    assert backbone.layers[2][0].conv.weight.grad is not None


def test_init_weights_runs_kaiming_and_unit_bn():
    backbone = MobileNetV1()
    backbone.layers[0].bn.weight.data.zero_()
    backbone.init_weights()
    assert torch.equal(backbone.layers[0].bn.weight, torch.ones(32))


@pytest.mark.parametrize(
    'kwargs',
    [dict(out_indices=(14,)), dict(out_indices=()), dict(frozen_stages=14), dict(frozen_stages=-2)],
)
def test_rejects_out_of_range_arguments(kwargs):
    with pytest.raises(ValueError, match='out_indices|frozen_stages'):
        MobileNetV1(**kwargs)
