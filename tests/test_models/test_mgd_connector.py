"""MGDConnector and random_mask: the formula, the mask statistics, gradients and errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

import mgd.models.connectors.mgd_connector as connector_module
from mgd.models import MGDConnector, random_mask


def generate_by_hand(connector: MGDConnector, feature: torch.Tensor) -> torch.Tensor:
    """``conv3x3(relu(conv3x3(align(feature))))`` from the connector's own weights."""
    if connector.align is not None:
        feature = F.conv2d(feature, connector.align.weight, connector.align.bias)
    first, last = connector.generation[0], connector.generation[2]
    hidden = F.relu(F.conv2d(feature, first.weight, first.bias, padding=1))
    return F.conv2d(hidden, last.weight, last.bias, padding=1)


@pytest.mark.parametrize('student_channels,teacher_channels', [(4, 4), (3, 5)])
def test_nothing_masked_is_generation_of_aligned_feature(student_channels, teacher_channels):
    torch.manual_seed(0)
    connector = MGDConnector(student_channels, teacher_channels, lambda_mgd=0.0)
    assert (connector.align is None) == (student_channels == teacher_channels)
    if connector.align is not None:
        assert connector.align.kernel_size == (1, 1)
    feature = torch.randn(2, student_channels, 6, 5)

    out = connector(feature)

    assert out.shape == (2, teacher_channels, 6, 5)
    torch.testing.assert_close(out, generate_by_hand(connector, feature))


def test_random_mask_with_lambda_one_masks_everything():
    feature = torch.randn(3, 4, 5, 6)
    assert not random_mask(feature, 1.0, mask_on_channel=False).any()
    assert not random_mask(feature, 1.0, mask_on_channel=True).any()


def test_everything_masked_leaves_the_bias_only_path(monkeypatch):
    """With an all-zero mask the output no longer depends on the feature: only biases act.

    By hand: the first conv gives b0 at every pixel, ReLU(b0); the second conv sums its 3×3
    kernel over the in-image neighbours (zero padding outside) and adds b2.
    """
    torch.manual_seed(0)
    c, h, w = 3, 4, 5
    connector = MGDConnector(2, c, lambda_mgd=0.5)
    monkeypatch.setattr(
        connector_module,
        'random_mask',
        lambda feature, _, on_channel: random_mask(feature, 1.0, on_channel),
    )
    out = connector(torch.randn(2, 2, h, w))

    b0 = connector.generation[0].bias.detach()
    w2, b2 = connector.generation[2].weight.detach(), connector.generation[2].bias.detach()
    relu_b0 = b0.clamp(min=0)
    expected = torch.empty(c, h, w)
    for o in range(c):
        for i in range(h):
            for j in range(w):
                total = b2[o].item()
                for ki in range(3):
                    for kj in range(3):
                        if 0 <= i + ki - 1 < h and 0 <= j + kj - 1 < w:
                            total += (w2[o, :, ki, kj] * relu_b0).sum().item()
                expected[o, i, j] = total
    torch.testing.assert_close(out.detach(), expected.expand(2, c, h, w))


@pytest.mark.parametrize('lambda_mgd', [1.0, 1.5, -0.1])
def test_lambda_outside_zero_one_refused(lambda_mgd):
    with pytest.raises(ValueError, match=r'lambda_mgd must be in \[0, 1\), got'):
        MGDConnector(4, 4, lambda_mgd=lambda_mgd)


@pytest.mark.parametrize('mask_on_channel', [False, True])
def test_masked_fraction_is_lambda(mask_on_channel):
    torch.manual_seed(0)
    lambda_mgd, draws = 0.65, 40
    feature = torch.randn(16, 32, 16, 16)
    masks = [random_mask(feature, lambda_mgd, mask_on_channel) for _ in range(draws)]
    n = draws * masks[0].numel()
    masked = sum((m == 0).sum().item() for m in masks) / n
    binomial_std = math.sqrt(lambda_mgd * (1 - lambda_mgd) / n)
    assert abs(masked - lambda_mgd) < 5 * binomial_std
    assert set(torch.cat([m.flatten() for m in masks]).unique().tolist()) == {0.0, 1.0}


def recorded_generation_input(connector: MGDConnector, feature: torch.Tensor) -> torch.Tensor:
    """What the generation block receives (the masked feature)."""
    seen = []
    handle = connector.generation.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    connector(feature)
    handle.remove()
    return seen[0]


def test_spatial_mask_is_shared_across_channels():
    torch.manual_seed(0)
    assert random_mask(torch.randn(2, 8, 5, 7), 0.5, mask_on_channel=False).shape == (2, 1, 5, 7)
    connector = MGDConnector(8, 8, lambda_mgd=0.5)
    masked = recorded_generation_input(connector, torch.rand(2, 8, 5, 7) + 1)  # no zeros
    zero = masked == 0
    assert zero.any() and not zero.all()
    assert (zero == zero[:, :1]).all()  # a pixel is masked in every channel or in none


def test_channel_mask_is_constant_over_the_image():
    torch.manual_seed(0)
    assert random_mask(torch.randn(2, 8, 5, 7), 0.5, mask_on_channel=True).shape == (2, 8, 1, 1)
    connector = MGDConnector(8, 8, lambda_mgd=0.5, mask_on_channel=True)
    masked = recorded_generation_input(connector, torch.rand(2, 8, 5, 7) + 1)
    zero = masked == 0
    assert zero.any() and not zero.all()
    assert (zero == zero[:, :, :1, :1]).all()  # a channel is masked everywhere or nowhere


def test_a_new_mask_at_every_call():
    torch.manual_seed(0)
    connector = MGDConnector(4, 4, lambda_mgd=0.5)
    feature = torch.randn(2, 4, 8, 8)
    assert not torch.equal(connector(feature), connector(feature))
    assert not torch.equal(random_mask(feature, 0.5, False), random_mask(feature, 0.5, False))


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16, torch.float64])
def test_mask_drawn_in_the_feature_dtype_and_device(dtype, monkeypatch):
    calls = []
    real_rand = torch.rand

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_rand(*args, **kwargs)

    monkeypatch.setattr(torch, 'rand', spy)
    feature = torch.randn(2, 3, 4, 4).to(dtype)
    mask = random_mask(feature, 0.5, mask_on_channel=False)
    assert mask.dtype == dtype
    assert calls == [dict(device=feature.device, dtype=dtype)]  # drawn there, never copied

    # a device other than the CPU: the meta device follows the same path as a GPU
    meta_mask = random_mask(torch.empty(2, 3, 4, 4, device='meta', dtype=dtype), 0.5, True)
    assert meta_mask.device.type == 'meta' and meta_mask.dtype == dtype
    assert calls[-1] == dict(device=torch.device('meta'), dtype=dtype)


def test_gradients_reach_the_student_feature_and_every_parameter():
    torch.manual_seed(0)
    connector = MGDConnector(3, 5, lambda_mgd=0.5)
    feature = torch.randn(2, 3, 8, 8, requires_grad=True)
    (connector(feature) ** 2).sum().backward()

    assert feature.grad is not None and feature.grad.abs().sum() > 0
    params = dict(connector.named_parameters())
    assert set(params) == {
        'align.weight',
        'align.bias',
        'generation.0.weight',
        'generation.0.bias',
        'generation.2.weight',
        'generation.2.bias',
    }
    for name, param in params.items():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_wrong_student_channels_names_both_counts():
    connector = MGDConnector(8, 16)
    with pytest.raises(ValueError, match=r'N×8×H×W.*\(2, 4, 5, 5\)'):
        connector(torch.randn(2, 4, 5, 5))
