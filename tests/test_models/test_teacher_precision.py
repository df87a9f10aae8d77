"""``model.teacher_dtype``: the frozen teacher runs under autocast in half precision while the
student trains in float32; and the MGD loss under the student's own AMP (bf16 autocast on the
CPU) stays finite and equal to float32 on the same features."""

from __future__ import annotations

import pytest
import torch
from utils import build_model, detection_batch

pytestmark = pytest.mark.usefixtures('one_thread')  # see tests/conftest.py


def recorded(model) -> tuple[list, list]:
    """The student's and the teacher's recorded FPN outputs of the last forward."""
    student = model.distiller.student_recorders.get_recorder('feats').get_record_data()
    teacher = model.distiller.teacher_recorders.get_recorder('feats').get_record_data()
    return list(student), list(teacher)


def mgd_losses(model, data, seed: int = 0) -> dict:
    torch.manual_seed(seed)  # the same random masks
    losses = model(**data, mode='loss')
    return {k: v for k, v in losses.items() if k.startswith('distill.')}


@pytest.mark.parametrize('name, dtype', [('bf16', torch.bfloat16), ('fp16', torch.float16)])
def test_half_precision_teacher_features_and_losses(mgd_cfg, name, dtype):
    model = build_model(mgd_cfg).train()
    data = detection_batch(model)
    fp32 = mgd_losses(model, data)
    model.teacher_dtype = name
    teacher_before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    half = mgd_losses(model, data)
    student, teacher = recorded(model)
    assert {f.dtype for f in teacher} == {dtype}  # the teacher ran in half precision
    assert {f.dtype for f in student} == {torch.float32}  # the student did not
    conv = model.teacher.backbone.conv1.weight  # half precision runs channels-last
    assert conv.dtype == torch.float32 and conv.is_contiguous(memory_format=torch.channels_last)
    assert model.student.backbone.conv1.weight.is_contiguous()  # the student is left as it is
    assert set(half) == set(fp32)
    for key in fp32:
        assert half[key].dtype == torch.float32 and torch.isfinite(half[key])
        assert half[key].item() == pytest.approx(fp32[key].item(), rel=0.03), key
    sum(half.values()).backward()
    connector = next(iter(model.distiller.connectors.values()))
    assert connector.generation[0].weight.grad is not None
    assert all(p.grad is None for p in model.teacher.parameters())
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, teacher_before[key]), key


def test_teacher_dtype_from_the_config(mgd_cfg):
    mgd_cfg.model.teacher_dtype = 'bf16'
    model = build_model(mgd_cfg).train()
    mgd_losses(model, detection_batch(model))
    assert {f.dtype for f in recorded(model)[1]} == {torch.bfloat16}


def test_unknown_teacher_dtype_is_refused(mgd_cfg):
    mgd_cfg.model.teacher_dtype = 'half'
    with pytest.raises(
        ValueError, match="model.teacher_dtype must be None .*'bf16' or 'fp16', got 'half'"
    ):
        build_model(mgd_cfg)


def test_mgd_loss_under_bf16_autocast_equals_float32_on_the_same_features(mgd_cfg):
    model = build_model(mgd_cfg).train()
    data = detection_batch(model)
    mgd_losses(model, data)
    student, teacher = recorded(model)
    pairs = list(zip(model.distiller.connectors.values(), model.distiller.distill_losses.values()))
    for level, ((connector, loss), s, t) in enumerate(zip(pairs, student, teacher)):
        torch.manual_seed(level)
        reference = loss(connector(s.detach()), t)
        torch.manual_seed(level)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            generated = connector(s.detach())
            value = loss(generated, t)
        assert generated.dtype == torch.bfloat16  # the connector did run in bf16
        assert value.dtype == torch.float32 and torch.isfinite(value)
        assert value.item() == pytest.approx(reference.item(), rel=1e-3), level
