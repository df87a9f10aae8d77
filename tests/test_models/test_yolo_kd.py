"""YOLOv5's output distillation against a hand computation in YOLOv5's own layout."""

from __future__ import annotations

import math

import pytest
import torch

from mgd.models.losses import YOLOv5OutputKDLoss


def head_outputs(n, anchors, classes, sizes, seed):
    """mmyolo's split of a YOLOv5 head output per level: the raw N×A×(5+K)×H×W prediction
    (x, y, w, h, obj, classes) and its three N×(A·parts)×H×W slices (cls, bbox, obj)."""
    g = torch.Generator().manual_seed(seed)
    raw = [torch.randn(n, anchors, 5 + classes, h, w, generator=g) for h, w in sizes]
    cls = [r[:, :, 5:].reshape(n, -1, r.shape[-2], r.shape[-1]) for r in raw]
    bbox = [r[:, :, :4].reshape(n, -1, r.shape[-2], r.shape[-1]) for r in raw]
    obj = [r[:, :, 4:5].reshape(n, -1, r.shape[-2], r.shape[-1]) for r in raw]
    return raw, (cls, bbox, obj)


def by_hand(p_raw, t_raw, classes, gains, weight, batch):
    """The study's formula, element by element, in YOLOv5's N×A×H×W×(5+K) layout."""
    box = obj = cls = 0.0
    for p, t in zip(p_raw, t_raw, strict=True):
        p, t = p.permute(0, 1, 3, 4, 2), t.permute(0, 1, 3, 4, 2)  # YOLOv5's layout
        cells = p.shape[0] * p.shape[1] * p.shape[2] * p.shape[3]
        b = o = c = 0.0
        for idx in torch.cartesian_prod(*(torch.arange(s) for s in p.shape[:4])).tolist():
            pi, ti = p[tuple(idx)].tolist(), t[tuple(idx)].tolist()
            w = 1 / (1 + math.exp(-ti[4]))
            b += sum(w * (pi[j] - ti[j]) ** 2 for j in range(4))
            o += w * (pi[4] - ti[4]) ** 2
            c += sum(w * (pi[j] - ti[j]) ** 2 for j in range(5, 5 + classes))
        box += b / (cells * 4)
        obj += o / cells
        if classes > 1:
            cls += c / (cells * classes)
    return weight * (gains[0] * box + gains[1] * obj + gains[2] * cls) * batch


@pytest.mark.parametrize('classes', [3, 1])
def test_loss_equals_the_hand_computation(classes):
    sizes = [(4, 4), (2, 2), (1, 1)]
    p_raw, student = head_outputs(2, 3, classes, sizes, seed=0)
    t_raw, teacher = head_outputs(2, 3, classes, sizes, seed=1)
    gains = (0.05, 1.0, 0.5)
    loss = YOLOv5OutputKDLoss(classes, 10, *gains)(*student, *teacher)
    expected = by_hand(p_raw, t_raw, classes, gains, 10, batch=2)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_a_single_class_has_no_class_term():
    sizes = [(2, 2)]
    _, student = head_outputs(1, 3, 1, sizes, seed=0)
    _, teacher = head_outputs(1, 3, 1, sizes, seed=1)
    with_cls = YOLOv5OutputKDLoss(1, 1, box_gain=0, obj_gain=0, cls_gain=1)(*student, *teacher)
    assert with_cls.item() == 0.0
    # and with two classes the class term is there
    _, student = head_outputs(1, 3, 2, sizes, seed=0)
    _, teacher = head_outputs(1, 3, 2, sizes, seed=1)
    assert YOLOv5OutputKDLoss(2, 1, 0, 0, 1)(*student, *teacher).item() > 0


def test_objectness_weights_each_anchor():
    """An anchor the teacher is sure is background (obj logit -30) adds nothing."""
    _, student = head_outputs(1, 1, 2, [(1, 2)], seed=0)
    _, teacher = head_outputs(1, 1, 2, [(1, 2)], seed=1)
    loss = YOLOv5OutputKDLoss(2, 1, 1, 1, 1, batch_scale=False)
    both = loss(*student, *teacher)
    teacher[2][0][0, 0, 0, 1] = -30.0  # the second cell: background for the teacher
    student_one = [[t[..., :1] for t in part] for part in student]
    teacher_one = [[t[..., :1] for t in part] for part in teacher]
    first = loss(*student_one, *teacher_one)
    assert loss(*student, *teacher).item() == pytest.approx(first.item() / 2, rel=1e-4)
    assert both.item() != pytest.approx(first.item() / 2, rel=1e-3)


def test_only_the_student_gets_gradients():
    _, student = head_outputs(2, 3, 4, [(2, 2)], seed=0)
    _, teacher = head_outputs(2, 3, 4, [(2, 2)], seed=1)
    student = [[t.requires_grad_() for t in part] for part in student]
    teacher = [[t.requires_grad_() for t in part] for part in teacher]
    YOLOv5OutputKDLoss(4)(*student, *teacher).backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for part in student for t in part)
    assert all(t.grad is None for part in teacher for t in part)


def test_shapes_and_settings_are_checked():
    _, student = head_outputs(1, 3, 2, [(2, 2)], seed=0)
    _, teacher = head_outputs(1, 3, 2, [(4, 4)], seed=1)
    with pytest.raises(ValueError, match='student and teacher heads output different shapes'):
        YOLOv5OutputKDLoss(2)(*student, *teacher)
    with pytest.raises(ValueError, match='not N×\\(3 anchors·3\\)×H×W'):
        YOLOv5OutputKDLoss(3)(*student, *student)
    with pytest.raises(ValueError, match='loss_weight must be a finite number >= 0'):
        YOLOv5OutputKDLoss(2, loss_weight=-1)
    with pytest.raises(ValueError, match='num_classes must be an int >= 1'):
        YOLOv5OutputKDLoss(0)
