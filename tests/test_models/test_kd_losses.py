"""Output-distillation losses against hand computation: values, gradients, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from mgd.models import DenseClsKDLoss, MultiTeacherKDLoss


def softmax(row: list[float], temp: float) -> list[float]:
    exps = [math.exp(x / temp) for x in row]
    return [e / sum(exps) for e in exps]


def kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True) if a > 0)


# ----------------------------------------------------------------------------- multi-teacher


def test_one_teacher_is_hintons_kd():
    student = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
    teacher = [[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]]
    temp, weight = 2.0, 0.7
    by_hand = sum(kl(softmax(t, temp), softmax(s, temp)) for s, t in zip(student, teacher)) / 2
    loss = MultiTeacherKDLoss(temperature=temp, loss_weight=weight)(
        torch.tensor(student), torch.tensor(teacher)
    )
    assert loss.item() == pytest.approx(weight * temp**2 * by_hand, rel=1e-5)


def test_teachers_soft_labels_are_averaged():
    student = [[0.5, -0.5, 1.0, 0.0]]
    teachers = [[[3.0, 0.0, 0.0, 0.0]], [[0.0, 0.0, 2.0, 1.0]], [[1.0, 1.0, 1.0, 1.0]]]
    temp = 4.0
    soft = [sum(col) / 3 for col in zip(*(softmax(t[0], temp) for t in teachers))]
    by_hand = kl(soft, softmax(student[0], temp))
    loss = MultiTeacherKDLoss(temperature=temp)(torch.tensor(student), torch.tensor(teachers))
    assert loss.item() == pytest.approx(temp**2 * by_hand, rel=1e-5)
    # averaging the soft labels is not averaging the losses (KL is convex in its first argument)
    per_teacher = sum(kl(softmax(t[0], temp), softmax(student[0], temp)) for t in teachers) / 3
    assert abs(by_hand - per_teacher) > 1e-3


def test_gradient_is_weight_t_times_q_minus_p_over_n():
    torch.manual_seed(0)
    student = torch.randn(4, 5, requires_grad=True)
    teachers = torch.randn(2, 4, 5, requires_grad=True)
    temp, weight = 3.0, 0.5
    MultiTeacherKDLoss(temperature=temp, loss_weight=weight)(student, teachers).backward()
    soft = torch.softmax(teachers.detach() / temp, -1).mean(0)
    expected = weight * temp * (torch.softmax(student.detach() / temp, -1) - soft) / 4
    torch.testing.assert_close(student.grad, expected)
    assert teachers.grad is None  # the teachers are targets


def test_certain_teacher_gives_finite_loss():
    student = torch.zeros(1, 3)
    teacher = torch.tensor([[1e4, -1e4, -1e4]])  # softmax is exactly one-hot: 0·log 0 terms
    loss = MultiTeacherKDLoss(temperature=1.0)(student, teacher)
    assert loss.item() == pytest.approx(math.log(3), rel=1e-5)


@pytest.mark.parametrize('temperature', [0, -1.0, float('nan'), float('inf')])
def test_temperature_must_be_positive(temperature):
    with pytest.raises(ValueError, match='temperature must be a finite number > 0'):
        MultiTeacherKDLoss(temperature=temperature)


def test_negative_weight_is_refused():
    with pytest.raises(ValueError, match='loss_weight must be a finite number >= 0'):
        MultiTeacherKDLoss(loss_weight=-0.5)


def test_other_class_count_names_both_shapes():
    with pytest.raises(ValueError, match=r'student \(2, 6\) and teachers \(2, 2, 5\)'):
        MultiTeacherKDLoss()(torch.zeros(2, 6), torch.zeros(2, 2, 5))


# ------------------------------------------------------------------------------------ dense


def binary_kl(t: float, s: float, temp: float) -> float:
    p, q = 1 / (1 + math.exp(-t / temp)), 1 / (1 + math.exp(-s / temp))
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def dense_levels(values: list[list[float]], anchors: int, classes: int) -> torch.Tensor:
    """One 1×(A·K)×1×P level whose anchor ``a`` at position ``p`` has class scores
    ``values[p·A + a]`` (the head's layout: channel a·K + k)."""
    positions = len(values) // anchors
    level = torch.zeros(1, anchors * classes, 1, positions)
    for p in range(positions):
        for a in range(anchors):
            level[0, a * classes : (a + 1) * classes, 0, p] = torch.tensor(values[p * anchors + a])
    return level


def test_dense_kd_value_by_hand():
    student = [[0.1, -1.0], [2.0, 0.0], [-0.5, 0.3], [1.0, 1.0]]
    teacher = [[1.0, -2.0], [0.0, 0.5], [-0.5, 0.3], [3.0, -1.0]]
    temp, weight = 2.0, 0.4
    by_hand = sum(
        binary_kl(t, s, temp) for srow, trow in zip(student, teacher) for s, t in zip(srow, trow)
    )
    loss = DenseClsKDLoss(num_classes=2, temperature=temp, loss_weight=weight)(
        [dense_levels(student, 2, 2)], [dense_levels(teacher, 2, 2)]
    )
    assert loss.item() == pytest.approx(weight * temp**2 * by_hand / 4, rel=1e-5)


def test_topk_distils_where_the_two_disagree_most():
    torch.manual_seed(0)
    level_s = torch.randn(2, 3 * 4, 5, 5)  # 2 images, 3 anchors, 4 classes
    level_t = level_s.clone()
    level_t[0, 4:8, 2, 3] += 5.0  # image 0: one anchor (anchor 1 at y=2, x=3) disagrees
    level_t[1, 0:4, 0, 0] -= 4.0  # image 1: another
    small = [torch.randn(2, 12, 2, 2) * 0.01 for _ in range(1)]
    students, teachers = [level_s, small[0]], [level_t, small[0].clone()]

    loss = DenseClsKDLoss(num_classes=4, topk=1)(students, teachers)

    def anchor_kl(image, channels, y, x):
        return sum(
            binary_kl(level_t[image, c, y, x].item(), level_s[image, c, y, x].item(), 1.0)
            for c in channels
        )

    by_hand = (anchor_kl(0, range(4, 8), 2, 3) + anchor_kl(1, range(0, 4), 0, 0)) / 2
    assert loss.item() == pytest.approx(by_hand, rel=1e-5)
    everything = DenseClsKDLoss(num_classes=4)(students, teachers)
    assert everything.item() == pytest.approx(by_hand * 2 / (2 * (75 + 12)), rel=1e-4)


def test_dense_gradient_is_t_times_sigmoid_difference():
    torch.manual_seed(0)
    student = [
        torch.randn(2, 6, 3, 3, requires_grad=True),
        torch.randn(2, 6, 1, 2, requires_grad=True),
    ]
    teacher = [torch.randn(2, 6, 3, 3), torch.randn(2, 6, 1, 2)]
    temp, weight = 2.0, 0.5
    DenseClsKDLoss(num_classes=3, temperature=temp, loss_weight=weight)(student, teacher).backward()
    anchors = 2 * (2 * 9 + 2 * 2)  # images × (anchors 2 × positions)
    for s, t in zip(student, teacher):
        expected = weight * temp * (torch.sigmoid(s.detach() / temp) - torch.sigmoid(t / temp))
        torch.testing.assert_close(s.grad, expected / anchors)


def test_dense_heads_of_other_shapes_are_refused():
    with pytest.raises(
        ValueError, match=r'student \[\(1, 18, 4, 4\)\], teacher \[\(1, 27, 4, 4\)\]'
    ):
        DenseClsKDLoss(num_classes=6)([torch.zeros(1, 18, 4, 4)], [torch.zeros(1, 27, 4, 4)])


def test_dense_num_classes_must_divide_the_channels():
    with pytest.raises(ValueError, match=r'level 0 have shape \(1, 18, 4, 4\).*num_classes=4'):
        DenseClsKDLoss(num_classes=4)([torch.zeros(1, 18, 4, 4)], [torch.zeros(1, 18, 4, 4)])


@pytest.mark.parametrize(
    'kwargs, message',
    [
        (dict(num_classes=6, temperature=0), 'temperature must be a finite number > 0'),
        (dict(num_classes=0), 'num_classes must be an int >= 1'),
        (dict(num_classes=6, topk=0), 'topk must be None'),
        (dict(num_classes=6, loss_weight=float('nan')), 'loss_weight must be'),
    ],
)
def test_dense_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DenseClsKDLoss(**kwargs)


def test_dense_loss_is_float32_under_autocast():
    student, teacher = [torch.randn(1, 6, 2, 2)], [torch.randn(1, 6, 2, 2)]
    reference = DenseClsKDLoss(num_classes=3)(student, teacher)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = DenseClsKDLoss(num_classes=3)([s.bfloat16() for s in student], teacher)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(reference.item(), rel=2e-2)
