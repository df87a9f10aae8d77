"""Bad distillation settings fail when the model is built or on the first batch, before any
loss or backward, with a message naming the recorder, connector or loss and what to set."""

from __future__ import annotations

import re

import pytest
import torch
from utils import build_model, detection_batch

import mgd.models.algorithms.mgd_distill as mgd_distill_module
from mgd.models import mgd_distiller
from mgd.utils.config import load_config

pytestmark = pytest.mark.usefixtures('one_thread')  # see tests/conftest.py


def distiller(**overrides) -> dict:
    """The demo config's distiller (5 FPN levels, 64 channels), with ``overrides``."""
    settings = dict(
        source='neck',
        feature_indices=range(5),
        student_channels=64,
        teacher_channels=64,
        alpha_mgd=2e-5,
        lambda_mgd=0.65,
    )
    return mgd_distiller(**{**settings, **overrides})


def first_batch_losses(model, num_classes: int = 6) -> dict:
    """Runs the loss forward on one tiny image; no loss may be computed when a check fails."""
    model.train()
    data = detection_batch(model, num_classes)
    return model(**data, mode='loss')


@pytest.fixture
def no_distill_losses(monkeypatch):
    """Fails the test if the distiller computes a loss (the checks must come first)."""
    from mmrazor.models.distillers import ConfigurableDistiller

    def refuse(self):
        raise AssertionError('compute_distill_losses ran before the feature check failed')

    monkeypatch.setattr(ConfigurableDistiller, 'compute_distill_losses', refuse)


# --- build time: recorder sources ---------------------------------------------------------


def test_student_recorder_typo_names_the_recorder_and_close_modules(mgd_cfg):
    mgd_cfg.model.distiller.student_recorders.feats.source = 'nek'
    with pytest.raises(ValueError) as info:
        build_model(mgd_cfg)
    message = str(info.value)
    assert (
        "model.distiller.student_recorders.feats: source 'nek' is not a module of the "
        'student (RetinaNet)' in message
    )
    assert "closest names: ['neck'" in message


def test_teacher_recorder_typo_lists_the_submodule_it_meant(mgd_cfg):
    mgd_cfg.model.distiller.teacher_recorders.feats.source = 'neck.fpn_conv.0'
    with pytest.raises(ValueError) as info:
        build_model(mgd_cfg)
    assert (
        "teacher_recorders.feats: source 'neck.fpn_conv.0' is not a module of the teacher"
        in str(info.value)
    )
    assert "'neck.fpn_convs.0'" in str(info.value)


def test_teacher_recorder_on_a_module_extract_feat_never_runs(mgd_cfg):
    mgd_cfg.model.distiller.teacher_recorders.feats.source = 'bbox_head.retina_cls'
    with pytest.raises(ValueError, match=re.escape("set model.teacher_runs='tensor'")):
        build_model(mgd_cfg)
    mgd_cfg.model.teacher_runs = 'tensor'  # then the head runs and the source is fine
    mgd_cfg.model.distiller.student_recorders.feats.source = 'bbox_head.retina_cls'
    build_model(mgd_cfg)


# --- first batch: feature shapes ----------------------------------------------------------


def test_wrong_student_channels_name_loss_feature_and_both_counts(mgd_cfg, no_distill_losses):
    mgd_cfg.model.distiller = distiller(student_channels=32)
    model = build_model(mgd_cfg)
    with pytest.raises(ValueError) as info:
        first_batch_losses(model)
    assert str(info.value) == (
        "loss_mgd_neck0: connector 'mgd_neck0' expects student_channels=32, but the student "
        "feature 'feats' (output of 'neck', data_idx 0) has 64 channels (shape "
        f"{tuple(model.distiller.student_recorders.get_recorder('feats').data_buffer[0][0].shape)}"
        '): set student_channels=64 (mgd_distiller(student_channels=...)).'
    )


def test_wrong_teacher_channels_name_loss_and_both_counts(mgd_cfg, no_distill_losses):
    mgd_cfg.model.distiller = distiller(teacher_channels=32)
    with pytest.raises(ValueError) as info:
        first_batch_losses(build_model(mgd_cfg))
    message = str(info.value)
    assert message.startswith(
        "loss_mgd_neck0: the teacher feature 'feats' (output of 'neck', "
        'data_idx 0) has 64 channels but the student feature'
    )
    assert "after connector 'mgd_neck0' has 32: set teacher_channels=64" in message


def test_features_of_different_size_are_refused(mgd_cfg, no_distill_losses):
    cfg = distiller()
    cfg['loss_forward_mappings']['loss_mgd_neck0']['preds_T']['data_idx'] = 1  # stride 16 vs 8
    mgd_cfg.model.distiller = cfg
    with pytest.raises(ValueError) as info:
        first_batch_losses(build_model(mgd_cfg))
    message = str(info.value)
    assert message.startswith('loss_mgd_neck0: student and teacher features differ in size')
    # 96x96 input padded to 96: level 0 is 12x12 (stride 8), level 1 6x6 (stride 16)
    assert '(1, 64, 12, 12)' in message and '(1, 64, 6, 6)' in message
    assert 'the same FPN level / data_idx' in message


def test_feature_index_beyond_the_fpn_levels(mgd_cfg, no_distill_losses):
    mgd_cfg.model.distiller = distiller(feature_indices=range(6))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "loss_mgd_neck5: data_idx 5 is out of range: 'neck' of the student outputs 5"
        ),
    ):
        first_batch_losses(build_model(mgd_cfg))


def test_good_config_trains_and_checks_the_first_batch_once(mgd_cfg, monkeypatch):
    calls = []
    check = mgd_distill_module.check_distill_features
    monkeypatch.setattr(
        mgd_distill_module, 'check_distill_features', lambda d: calls.append(1) or check(d)
    )
    model = build_model(mgd_cfg)
    for _ in range(2):
        losses = first_batch_losses(model)
    assert len(calls) == 1  # later batches: MGDLoss's own shape check guards them
    assert {k for k in losses if k.startswith('distill.')} == {
        f'distill.loss_mgd_neck{i}' for i in range(5)
    }
    teacher_before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    sum(v if torch.is_tensor(v) else sum(v) for v in losses.values()).backward()
    for name, parameter in model.named_parameters():
        if name.startswith('teacher.'):
            assert parameter.grad is None, name
        elif name.startswith(('architecture.backbone.', 'distiller.connectors.')):
            assert parameter.grad is not None, name
    assert all(torch.equal(v, teacher_before[k]) for k, v in model.teacher.state_dict().items())


# --- MGD hyper-parameters through a config build ------------------------------------------


@pytest.mark.parametrize(
    'key, value, message',
    [
        ('connectors.mgd_neck2.lambda_mgd', 1.0, 'lambda_mgd must be in [0, 1), got 1.0'),
        ('connectors.mgd_neck0.lambda_mgd', -0.1, 'lambda_mgd must be in [0, 1), got -0.1'),
        ('connectors.mgd_neck1.lambda_mgd', float('nan'), 'lambda_mgd must be in [0, 1), got nan'),
        (
            'distill_losses.loss_mgd_neck4.alpha_mgd',
            -2e-5,
            'alpha_mgd must be a finite number >= 0, got -2e-05',
        ),
        (
            'distill_losses.loss_mgd_neck0.alpha_mgd',
            float('nan'),
            'alpha_mgd must be a finite number >= 0, got nan',
        ),
    ],
)
def test_mgd_hyper_parameters_out_of_range(demo_data, teacher_ckpt, key, value, message):
    from conftest import DEMO_MGD, data_options

    cfg = load_config(
        str(DEMO_MGD),
        {
            **data_options(demo_data),
            f'model.distiller.{key}': value,
            'model.teacher_ckpt': str(teacher_ckpt),
        },
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        build_model(cfg)


# --- inheriting ---------------------------------------------------------------------------


def test_inheriting_skips_neck_tensors_of_another_shape(mgd_cfg, monkeypatch):
    logged = []
    monkeypatch.setattr(
        mgd_distill_module,
        'print_log',
        lambda msg, logger=None, level=20: logged.append((level, msg)),
    )
    model = build_model(mgd_cfg)

    student, teacher = model.student.state_dict(), model.teacher.state_dict()
    inherited = [k for k in student if k.startswith(('neck.', 'bbox_head.'))]
    differ = [k for k in inherited if student[k].shape != teacher[k].shape]
    warnings = [msg for level, msg in logged if level == 30]
    assert len(warnings) == 1
    # the FPN's input convs: the student's backbone is half as wide
    assert warnings[0].startswith(f'Inheriting strategy skipped {len(differ)} tensors: ')
    assert len(differ) == 4 and all(k.startswith('neck.') for k in differ)
    assert (
        'neck.lateral_convs.0.conv.weight (student (64, 32, 1, 1), teacher (64, 64, 1, 1))'
        in (warnings[0])
    )
    copied = [k for k in inherited if k not in differ]
    assert copied and all(torch.equal(student[k], teacher[k]) for k in copied)
    assert f'copied {len(copied)} tensors' in ' '.join(msg for _, msg in logged)
    losses = first_batch_losses(model)  # and it trains
    assert all(torch.isfinite(sum(v) if isinstance(v, list) else v) for v in losses.values())


def test_inheriting_a_head_for_other_classes_is_refused(mgd_cfg):
    mgd_cfg.model.architecture.bbox_head.num_classes = 3  # the teacher has 6
    with pytest.raises(ValueError) as info:
        build_model(mgd_cfg)
    assert "the student's bbox_head predicts 3 classes, the teacher's 6" in str(info.value)


# --- SingleTeacherDistill options that MGD fixes ------------------------------------------


@pytest.mark.parametrize(
    'option, value',
    [
        ('teacher_trainable', True),
        ('teacher_norm_eval', False),
        ('student_trainable', False),
        ('calculate_student_loss', False),
    ],
)
def test_base_class_options_that_mgd_fixes_are_refused(mgd_cfg, option, value):
    mgd_cfg.model[option] = value
    with pytest.raises(ValueError, match=rf'model\.{option} must be {not value} for MGDDistill'):
        build_model(mgd_cfg)


def test_base_class_options_with_mgd_values_are_accepted(mgd_cfg):
    mgd_cfg.model.update(teacher_trainable=False, calculate_student_loss=True)
    model = build_model(mgd_cfg)
    assert not any(p.requires_grad for p in model.teacher.parameters())
