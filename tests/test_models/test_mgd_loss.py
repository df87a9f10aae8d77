"""MGDLoss: alpha · Σ(S − T)² / N, in float32 whatever the input dtype."""

from __future__ import annotations

import pytest
import torch

from mgd.models import MGDLoss


def test_value_against_hand_computation():
    # S − T = 1 everywhere: Σ = 2·3·4·4 = 96 over N = 2 images, times alpha 0.5
    assert MGDLoss(0.5)(torch.ones(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)).item() == 24.0

    torch.manual_seed(0)
    student, teacher = torch.randn(3, 2, 4, 5), torch.randn(3, 2, 4, 5)
    by_hand = sum(
        (s - t) ** 2
        for s, t in zip(student.flatten().tolist(), teacher.flatten().tolist(), strict=True)
    )
    expected = 2e-5 * by_hand / 3
    assert MGDLoss(2e-5)(student, teacher).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_large_low_precision_features_give_the_float32_loss(dtype):
    torch.manual_seed(0)
    student = (300 + 10 * torch.randn(2, 8, 16, 16)).to(dtype)
    teacher = (10 * torch.randn(2, 8, 16, 16)).to(dtype)
    if dtype == torch.float16:  # the naive computation overflows: 300² > 65504
        assert torch.isinf(((student - teacher) ** 2).sum())

    loss = MGDLoss(2e-5)(student, teacher)

    reference = 2e-5 * ((student.double() - teacher.double()) ** 2).sum() / 2
    assert loss.dtype == torch.float32
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)


def test_float32_under_autocast():
    student, teacher = torch.randn(2, 4, 4, 4), torch.randn(2, 4, 4, 4)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = MGDLoss(1.0)(student, teacher)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(((student - teacher) ** 2).sum().item() / 2, rel=1e-6)


def test_gradient_is_two_alpha_diff_over_n():
    torch.manual_seed(0)
    alpha = 0.3
    student = torch.randn(4, 3, 5, 5, requires_grad=True)
    teacher = torch.randn(4, 3, 5, 5, requires_grad=True)
    MGDLoss(alpha)(student, teacher).backward()
    torch.testing.assert_close(student.grad, 2 * alpha * (student - teacher).detach() / 4)
    assert teacher.grad is None  # the teacher feature is a target, never trained


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r'student \(2, 3, 4, 4\) and teacher \(2, 3, 4, 5\)'):
        MGDLoss()(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 5))


@pytest.mark.parametrize('alpha', [-1.0, float('nan'), float('inf')])
def test_negative_or_non_finite_alpha_refused(alpha):
    with pytest.raises(ValueError, match=f'alpha_mgd must be a finite number >= 0, got {alpha}'):
        MGDLoss(alpha)
