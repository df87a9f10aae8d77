"""TeacherEnsemble inside MGDDistill: several frozen teachers, MGD from each, averaged KD."""

from __future__ import annotations

import pytest
import torch
from mmengine.config import Config
from utils import (
    CONFIGS,
    build_model,
    check_training_step,
    offline_config,
    preprocess,
    tiny_batch,
    training_step,
)

from mgd.models import MultiTeacherKDLoss, TeacherEnsemble
from mgd.utils.preflight import check_teacher_ckpt

MULTI = CONFIGS / 'neu_cls/mgd-mtkd_resnet18-w32-resnet34-w32_resnet18-w8_neu_cls.py'
SINGLE = CONFIGS / 'neu_cls/mgd-kd_resnet34-w32_resnet18-w8_neu_cls.py'
R18 = str(CONFIGS / 'neu_cls/resnet18-w32_neu_cls.py')
R34 = str(CONFIGS / 'neu_cls/resnet34-w32_neu_cls.py')


def one_step(path, **overrides):
    cfg = offline_config(path, **overrides)
    model = build_model(cfg)
    data = preprocess(model, tiny_batch(cfg))
    losses = model(**data, mode='loss')
    return model, data, losses


def test_multi_teacher_step_has_mgd_per_teacher_and_one_kd():
    cfg = offline_config(MULTI)
    model = build_model(cfg)
    losses = training_step(model, preprocess(model, tiny_batch(cfg)))
    assert isinstance(model.teacher, TeacherEnsemble)
    assert model.teacher.names == ['r18', 'r34']
    expected = {
        'distill.loss_mgd_r18_backbone0',
        'distill.loss_mgd_r34_backbone0',
        'distill.loss_kd',
    }
    check_training_step(model, losses, expected)
    # one connector per teacher, each into that teacher's channels
    assert sorted(model.distiller.connectors) == ['mgd_r18_backbone0', 'mgd_r34_backbone0']


def test_kd_loss_is_the_averaged_soft_label_of_the_teachers_outputs():
    model, data, losses = one_step(MULTI)
    inputs = data['inputs']
    with torch.no_grad():
        teachers = torch.stack(
            [getattr(model.teacher, n)(inputs, mode='tensor') for n in model.teacher.names]
        )
        student_logits = model.distiller.student_recorders.get_recorder('logits').data_buffer[0]
    expected = MultiTeacherKDLoss(temperature=4, loss_weight=0.5)(student_logits, teachers)
    assert losses['distill.loss_kd'].item() == pytest.approx(expected.item(), rel=1e-5)
    # the student's CE is weighted 1 - lambda_kd: half its unweighted value
    head = model.student.head
    cfg = Config.fromfile(str(MULTI))
    assert cfg.model.architecture.head.loss.loss_weight == 1 - cfg.lambda_kd == 0.5
    assert head.loss_module.loss_weight == 0.5


def test_single_teacher_config_keeps_only_its_teacher():
    model, _, losses = one_step(SINGLE)
    assert model.teacher.names == ['r34']
    assert {k for k in losses if k.startswith('distill.')} == {
        'distill.loss_mgd_r34_backbone0',
        'distill.loss_kd',
    }


def test_teachers_stay_frozen_in_eval_mode():
    model, _, _ = one_step(MULTI)
    model.train()
    assert not any(m.training for m in model.teacher.modules())
    assert not any(p.requires_grad for p in model.teacher.parameters())


def test_each_teacher_loads_its_own_checkpoint(tmp_path):
    ckpts = {}
    for name, path in (('r18', R18), ('r34', R34)):
        teacher = build_model(offline_config(path))
        ckpts[name] = tmp_path / f'{name}.pth'
        torch.save({'state_dict': teacher.state_dict()}, ckpts[name])
    teachers = {
        name: dict(cfg_path=p, ckpt=str(ckpts[name])) for name, p in (('r18', R18), ('r34', R34))
    }
    model = build_model(
        offline_config(MULTI, teacher=dict(type='mmrazor.TeacherEnsemble', teachers=teachers))
    )
    for name in ('r18', 'r34'):
        saved = torch.load(ckpts[name])['state_dict']
        own = getattr(model.teacher, name).state_dict()
        assert all(torch.equal(own[k], saved[k]) for k in saved)


def test_a_checkpoint_of_another_model_names_the_key(tmp_path):
    student = build_model(offline_config(CONFIGS / 'neu_cls/resnet18-w8_neu_cls.py'))
    path = tmp_path / 'w8.pth'
    torch.save({'state_dict': student.state_dict()}, path)
    teachers = dict(r34=dict(cfg_path=R34, ckpt=str(path)))  # the student's checkpoint
    with pytest.raises(
        ValueError, match=r'model.teacher.teachers.r34.ckpt .*w8.pth.*shapes differ'
    ):
        build_model(
            offline_config(SINGLE, teacher=dict(type='mmrazor.TeacherEnsemble', teachers=teachers))
        )


def test_teachers_of_other_class_counts_are_refused():
    teachers = dict(
        r18=dict(cfg_path=R18), r34=dict(cfg_path=R34, model=dict(head=dict(num_classes=5)))
    )
    teachers['r34'] = dict(cfg_path=R34, head=dict(num_classes=5))
    with pytest.raises(ValueError, match=r"different numbers of classes \({'r18': 6, 'r34': 5}\)"):
        TeacherEnsemble(teachers)


def test_student_of_other_classes_is_refused():
    cfg = offline_config(MULTI)
    cfg.model.architecture.head.num_classes = 4
    with pytest.raises(ValueError, match='the student predicts 4 classes, the teachers 6'):
        build_model(cfg)


@pytest.mark.parametrize('name', ['r.18', 'stacked_logits', 'data_preprocessor', ''])
def test_teacher_names_must_be_plain(name):
    with pytest.raises(ValueError, match='cannot name a teacher'):
        TeacherEnsemble({name: dict(cfg_path=R18)})


def test_teacher_ckpt_and_inherit_have_no_meaning_with_an_ensemble():
    with pytest.raises(
        ValueError, match='give each teacher its checkpoint as model.teacher.teachers.NAME.ckpt'
    ):
        build_model(offline_config(MULTI, teacher_ckpt='t.pth'))
    with pytest.raises(ValueError, match="inherit=\\['head'\\] needs one teacher"):
        build_model(offline_config(MULTI, inherit=('head',)))


def test_training_refuses_a_teacher_without_checkpoint():
    cfg = Config.fromfile(str(MULTI))
    cfg.model.teacher.teachers.r34.ckpt = None
    with pytest.raises(ValueError, match=r'model.teacher.teachers.r34.ckpt is not set'):
        check_teacher_ckpt(cfg)
    cfg.model.teacher.teachers.r34.ckpt = 'r34.pth'
    check_teacher_ckpt(cfg)  # every teacher has one


def test_recorder_past_the_teacher_name_must_be_backbone_or_neck_for_extract_feat():
    cfg = offline_config(MULTI, teacher_runs='extract_feat')
    with pytest.raises(ValueError, match="source 'stacked_logits' is never run"):
        build_model(cfg)


def test_lambda_kd_on_the_command_line_is_refused_with_the_two_keys():
    from mgd.utils.config import load_config

    with pytest.raises(ValueError, match='loss_kd.loss_weight=L and model.architecture.head.loss'):
        load_config(str(MULTI), {'lambda_kd': 0.3})
    cfg = load_config(
        str(MULTI),
        {
            'model.distiller.distill_losses.loss_kd.loss_weight': 0.3,
            'model.architecture.head.loss.loss_weight': 0.7,
        },
    )
    assert cfg.model.distiller.distill_losses.loss_kd.loss_weight == 0.3
