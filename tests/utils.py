"""What the config tests share: load a config offline, build it, take one training step.

Import from a test module under ``tests/`` with ``from utils import ...`` (pytest puts the test
file's folder on ``sys.path``; ``tests/`` has no ``__init__.py``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmrazor.registry import MODELS
from torch import nn

import mgd.models  # noqa: F401  (stack fixes; registers the MGD classes)
from mgd.models import MGDDistill
from mgd.utils import batches
from mgd.utils.batches import task_of
from mgd.utils.config import drop_teacher_ckpts

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs'


def is_distillation(cfg: Config) -> bool:
    """Whether ``cfg.model`` is an ``MGDDistill`` (else a plain student config)."""
    return cfg.model.type in ('MGDDistill', 'mmrazor.MGDDistill')


def offline_config(path: str | Path, **model_overrides) -> Config:
    """Loads a config so that building it downloads nothing.

    ``teacher_ckpt`` becomes None and the student's backbone ``init_cfg`` (an ImageNet
    checkpoint) is dropped; ``model_overrides`` are then set on ``cfg.model``. The top-level
    ``data_preprocessor`` is merged into the model the way mmengine's Runner does it.
    """
    cfg = Config.fromfile(str(path))
    model = student = cfg.model
    if is_distillation(cfg):
        drop_teacher_ckpts(model)
        student = model.architecture
    if 'backbone' in student:
        student.backbone.init_cfg = None
    student.pop('pretrained', None)  # mmseg's ImageNet backbone checkpoint
    if cfg.get('default_scope') == 'mmseg':  # pad tiny images to 64x64, not to the 512 crop
        for preprocessor in (model.get('data_preprocessor'), student.get('data_preprocessor')):
            if preprocessor:
                preprocessor.size = (64, 64)
    model.update(model_overrides)
    if cfg.get('data_preprocessor') is not None:
        model.setdefault('data_preprocessor', cfg.data_preprocessor)
    return cfg


def build_model(cfg: Config, train: bool = True) -> nn.Module:
    """Builds ``cfg.model`` through mmrazor's ``MODELS`` under the config's default scope,
    then ``init_weights()`` and ``train()``."""
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(cfg.model)
    model.init_weights()
    model.train(train)
    return model


def num_classes_of(cfg: Config) -> int:
    """The first ``num_classes`` in the student's config (its head's)."""
    num_classes = batches.num_classes_of(
        cfg.model.architecture if is_distillation(cfg) else cfg.model
    )
    if num_classes is None:
        raise ValueError('the student config has no num_classes')
    return num_classes


def tiny_batch(cfg: Config) -> dict:
    """A raw batch as a dataloader gives it, with labels below the student's ``num_classes``.

    Detection: 1 image 96x96 with 3 boxes and masks. Classification: 2 images 32x32.
    Segmentation: 2 images 64x64 (pyramid pooling's 1x1 bin needs batch statistics over 2).
    """
    task = task_of(cfg)
    images = 1 if task == 'detection' else 2
    return batches.synthetic_batch(
        task, images, batches.TINY_SIZE[task], num_classes_of(cfg), boxes_per_image=3
    )


def preprocess(model: nn.Module, batch: dict) -> dict:
    """Runs the model's data preprocessor in training mode."""
    return model.data_preprocessor(batch, True)


def training_step(model: nn.Module, data: dict) -> dict[str, torch.Tensor]:
    """One loss forward and backward (no optimizer step).

    Returns:
        The losses, each list of per-stage losses summed into one tensor.
    """
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    total.backward()
    return {k: sum(v) if isinstance(v, list | tuple) else v for k, v in losses.items()}


def student_of(model: nn.Module) -> nn.Module:
    """The student of a distillation model, or the model itself."""
    return model.student if isinstance(model, MGDDistill) else model


def student_loss_keys(model: nn.Module, data: dict) -> set[str]:
    """The loss names the student alone returns on ``data``, as the distiller prefixes them."""
    with torch.no_grad():
        losses = student_of(model)(**data, mode='loss')
    prefix = 'student.' if isinstance(model, MGDDistill) else ''
    return {prefix + key for key in losses}


def check_training_step(model: nn.Module, losses: dict, distill_keys: set[str]) -> None:
    """Asserts what every distillation (or plain student) config must satisfy after one step.

    Finite losses; exactly ``distill_keys`` among the ``distill.*`` losses; a gradient in every
    trainable student parameter and every connector parameter; the teacher frozen (no
    gradient) and in eval mode with all its submodules.
    """
    bad = {k: v for k, v in losses.items() if not torch.isfinite(v).all()}
    assert not bad, f'non-finite losses: {bad}'
    assert {k for k in losses if k.startswith('distill.')} == distill_keys
    student = student_of(model)
    trained = [p for p in student.parameters() if p.requires_grad]
    without_grad = [n for n, p in student.named_parameters() if p.requires_grad and p.grad is None]
    assert trained and not without_grad, f'student parameters without gradient: {without_grad}'
    if not isinstance(model, MGDDistill):
        return
    connectors = model.distiller.connectors
    assert len(connectors), 'the distiller has no connectors'
    for name, connector in connectors.items():
        grads = {n: p.grad for n, p in connector.named_parameters()}
        missing = [n for n, g in grads.items() if g is None or not torch.isfinite(g).all()]
        assert not missing, f'connector {name}: parameters without a finite gradient: {missing}'
        # Not every tensor: a fully masked 1x1 map (P7 of a tiny image) zeroes the first
        # generation conv's weight gradient.
        assert sum(g.abs().sum() for g in grads.values()) > 0, f'connector {name}: zero gradient'
    teacher = model.teacher
    assert not any(p.requires_grad or p.grad is not None for p in teacher.parameters())
    training = [n for n, m in teacher.named_modules() if m.training]
    assert not training, f'teacher modules in training mode: {training[:5]}'
