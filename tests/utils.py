"""What the config tests share: load a config offline, build it, take one training step.

Import from a test module under ``tests/`` with ``from utils import ...`` (pytest puts the test
file's folder on ``sys.path``; ``tests/`` has no ``__init__.py``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import torch
from mmengine.config import Config
from torch import nn

import mgd.models  # noqa: F401  (stack fixes; registers the MGD classes)
from mgd.analysis import offline
from mgd.analysis.offline import task_of
from mgd.models import MGDDistill
from mgd.utils.distill_config import evaluated_model, is_distillation

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs'


def run_tool(*cmd: str) -> str:
    """Runs a command in the repository root as a user would; asserts it succeeded and
    returns its standard output (the failure shows the tail of both streams)."""
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert (
        result.returncode == 0
    ), f'{cmd} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}'
    return result.stdout


DEMO_MGD = CONFIGS / 'demo' / 'mgd_fpn_retina_r18-w32_retina_r18-w16_demo.py'
DEMO_STUDENT = CONFIGS / 'demo' / 'retinanet_r18-w16_demo.py'
DEMO_TEACHER = CONFIGS / 'demo' / 'retinanet_r18-w32_demo.py'


def data_options(root: str | Path) -> dict[str, str]:
    """``--cfg-options`` that point the demo configs at the data in ``root``."""
    root = f'{root}/'
    ann_val = f'{root}annotations/instances_val.json'
    return {
        'train_dataloader.dataset.data_root': root,
        'val_dataloader.dataset.data_root': root,
        'test_dataloader.dataset.data_root': root,
        'val_evaluator.ann_file': ann_val,
        'test_evaluator.ann_file': ann_val,
    }


def detection_batch(model: nn.Module, num_classes: int = 6) -> dict:
    """One 96x96 image with 3 boxes, through the model's data preprocessor (training mode)."""
    from mmdet.testing import demo_mm_inputs

    batch = demo_mm_inputs(
        1, [[3, 96, 96]], num_items=[3], num_classes=num_classes, with_mask=False
    )
    return model.data_preprocessor(batch, True)


def offline_config(path: str | Path, **model_overrides) -> Config:
    """Loads a config so that building it downloads nothing (``mgd.analysis.offline``), with
    mmseg's images padded to 64x64 instead of the 512 crop (the tests' inputs are tiny)."""
    cfg = offline.offline_config(path, **model_overrides)
    student = evaluated_model(cfg)[1]
    if cfg.get('default_scope') == 'mmseg':
        for preprocessor in (cfg.model.get('data_preprocessor'), student.get('data_preprocessor')):
            if preprocessor:
                preprocessor.size = (64, 64)
    return cfg


def build_model(cfg: Config, train: bool = True) -> nn.Module:
    """Builds ``cfg.model`` through mmrazor's ``MODELS`` under the config's default scope,
    then ``init_weights()`` and ``train()``."""
    model = offline.build_offline(cfg)
    model.init_weights()
    model.train(train)
    return model


def num_classes_of(cfg: Config) -> int:
    """The first ``num_classes`` in the student's config (its head's)."""
    num_classes = offline.num_classes_of(
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
    images = 1 if task in ('detection', 'yolo') else 2
    return offline.synthetic_batch(
        task, images, offline.TINY_SIZE[task], num_classes_of(cfg), boxes_per_image=3
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
