"""Output (logit) distillation losses that go beside MGD's feature loss.

* ``MultiTeacherKDLoss``: classification, softmax logits of one or several teachers averaged
  into one soft label (Hinton's KD when there is one teacher).
* ``DenseClsKDLoss``: dense detectors with sigmoid classifiers (RetinaNet's head), per anchor
  and class, over all anchors or only those where teacher and student disagree most (GID's
  selection idea, without its NMS over instances).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F  # noqa: N812
from mmrazor.registry import MODELS
from torch import Tensor, nn

from mgd.utils.errors import ConfigError


def _check_temperature(temperature: float, loss: str) -> None:
    if not (isinstance(temperature, int | float) and math.isfinite(temperature)) or (
        temperature <= 0
    ):
        raise ConfigError(
            f'{loss}: temperature must be a finite number > 0, got {temperature!r} (it divides '
            'the logits; 1 is plain softmax/sigmoid, 2-4 softens them as usual for KD).'
        )


def _check_weight(loss_weight: float, loss: str) -> None:
    if not (isinstance(loss_weight, int | float) and math.isfinite(loss_weight)) or (
        loss_weight < 0
    ):
        raise ConfigError(f'{loss}: loss_weight must be a finite number >= 0, got {loss_weight!r}')


@MODELS.register_module()
class MultiTeacherKDLoss(nn.Module):
    """``loss_weight · T² · KL(p̄_T ‖ softmax(s / T))`` with ``p̄_T = mean_k softmax(t_k / T)``.

    The teachers' softened distributions are averaged into one soft label; the KL divergence
    is summed over classes and averaged over images. ``T²`` keeps the gradient's scale
    independent of ``T`` (Hinton et al.; mmrazor's ``KLDivergence`` does the same). The
    multi-teacher recipe ``λ·KD + (1 − λ)·CE`` sets ``loss_weight = λ`` here and the student
    head's ``loss_weight = 1 − λ`` (the configs do both from ``lambda_kd``).

    Args:
        temperature: ``T`` > 0.
        loss_weight: ``λ`` ≥ 0.
    """

    def __init__(self, temperature: float = 4.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        _check_temperature(temperature, 'MultiTeacherKDLoss')
        _check_weight(loss_weight, 'MultiTeacherKDLoss')
        self.temperature = float(temperature)
        self.loss_weight = float(loss_weight)

    def forward(self, preds_S: Tensor, preds_T: Tensor) -> Tensor:  # noqa: N803
        """Computes the loss.

        Args:
            preds_S: the student's logits, N×K.
            preds_T: the teachers' logits, M×N×K for M teachers (``TeacherEnsemble`` stacks
                them), or N×K for one.

        Returns:
            A float32 scalar.
        """
        if preds_T.dim() == preds_S.dim():
            preds_T = preds_T.unsqueeze(0)
        if preds_S.dim() != 2 or preds_T.shape[1:] != preds_S.shape:
            raise ConfigError(
                'MultiTeacherKDLoss needs student logits N×K and teacher logits (M×)N×K of the '
                f'same N and K, got student {tuple(preds_S.shape)} and teachers '
                f'{tuple(preds_T.shape)}: do all models predict the same classes?'
            )
        temp = self.temperature
        with torch.autocast(device_type=preds_S.device.type, enabled=False):
            soft_label = F.softmax(preds_T.detach().float() / temp, dim=-1).mean(0)
            log_student = F.log_softmax(preds_S.float() / temp, dim=-1)
            # xlogy: 0 · log 0 = 0 where a teacher is certain
            kl = (torch.xlogy(soft_label, soft_label) - soft_label * log_student).sum()
            return self.loss_weight * temp**2 * kl / preds_S.shape[0]


@MODELS.register_module()
class DenseClsKDLoss(nn.Module):
    """Temperature KD on a dense detector's sigmoid class scores (e.g. RetinaNet's).

    Per anchor and class, the binary KL divergence between ``σ(t / T)`` and ``σ(s / T)``,
    summed over classes, averaged over the distilled anchors, times ``T²`` and
    ``loss_weight``. With ``topk``, only the ``topk`` anchors of each image (over all levels)
    where ``max_class |σ(t) − σ(s)|`` is largest are distilled (GID's idea: distil where the
    two disagree most); without it, every anchor is.

    Args:
        num_classes: classes of the head (its outputs have ``anchors × num_classes``
            channels per level).
        temperature: ``T`` > 0.
        loss_weight: ≥ 0.
        topk: anchors per image to distil, or None for all.
    """

    def __init__(
        self,
        num_classes: int,
        temperature: float = 1.0,
        loss_weight: float = 1.0,
        topk: int | None = None,
    ) -> None:
        super().__init__()
        _check_temperature(temperature, 'DenseClsKDLoss')
        _check_weight(loss_weight, 'DenseClsKDLoss')
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(
                f'DenseClsKDLoss: num_classes must be an int >= 1, got {num_classes!r}'
            )
        if topk is not None and (not isinstance(topk, int) or topk < 1):
            raise ConfigError(
                f'DenseClsKDLoss: topk must be None (every anchor) or an int >= 1, got {topk!r}'
            )
        self.num_classes = num_classes
        self.temperature = float(temperature)
        self.loss_weight = float(loss_weight)
        self.topk = topk

    def _flatten(self, levels: Sequence[Tensor], which: str) -> Tensor:
        """Per level N×(A·K)×H×W → one N×(anchors)×K tensor."""
        out = []
        for i, level in enumerate(levels):
            if level.dim() != 4 or level.shape[1] % self.num_classes:
                raise ConfigError(
                    f'DenseClsKDLoss: the {which} class scores of level {i} have shape '
                    f'{tuple(level.shape)}, not N×(anchors·{self.num_classes})×H×W: is '
                    f"num_classes={self.num_classes} the head's, and is the recorder on the "
                    "head's output (data_idx 0: class scores)?"
                )
            n, _, h, w = level.shape
            out.append(
                level.permute(0, 2, 3, 1).reshape(
                    n, h * w * level.shape[1] // self.num_classes, self.num_classes
                )
            )
        return torch.cat(out, dim=1)

    def forward(self, preds_S: Sequence[Tensor], preds_T: Sequence[Tensor]) -> Tensor:  # noqa: N803
        """Computes the loss.

        Args:
            preds_S: the student head's class scores (logits), one N×(A·K)×H×W per level.
            preds_T: the teacher's, same shapes.

        Returns:
            A float32 scalar.
        """
        shapes_s = [tuple(p.shape) for p in preds_S]
        shapes_t = [tuple(p.shape) for p in preds_T]
        if shapes_s != shapes_t:
            raise ConfigError(
                'DenseClsKDLoss: the student and teacher heads output class scores of different '
                f'shapes (student {shapes_s}, teacher {shapes_t}): both heads must predict the '
                'same classes with the same anchors on the same FPN levels.'
            )
        temp = self.temperature
        with torch.autocast(device_type=preds_S[0].device.type, enabled=False):
            student = self._flatten([p.float() for p in preds_S], 'student')
            teacher = self._flatten([p.detach().float() for p in preds_T], 'teacher')
            if self.topk is not None and self.topk < student.shape[1]:
                gap = (teacher.sigmoid() - student.detach().sigmoid()).abs().amax(-1)
                index = (
                    gap.topk(self.topk, dim=1).indices[..., None].expand(-1, -1, self.num_classes)
                )
                student, teacher = student.gather(1, index), teacher.gather(1, index)
            p_t = torch.sigmoid(teacher / temp)
            # binary KL(p_t ‖ p_s) from logits: log σ(x) = -softplus(-x), log(1-σ(x)) = -softplus(x)
            log_ps = -F.softplus(-student / temp)
            log_1ms = -F.softplus(student / temp)
            kl = (
                torch.xlogy(p_t, p_t)
                + torch.xlogy(1 - p_t, 1 - p_t)
                - p_t * log_ps
                - (1 - p_t) * log_1ms
            )
            anchors = student.shape[0] * student.shape[1]
            return self.loss_weight * temp**2 * kl.sum() / anchors
