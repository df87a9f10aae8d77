"""YOLOv5's output distillation, on mmyolo's YOLOv5 head (``mmrazor.YOLOv5OutputKDLoss``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.dist import get_world_size
from mmrazor.registry import MODELS
from torch import Tensor, nn

from mgd.utils.errors import ConfigError


def _check_number(value: object, name: str) -> float:
    if not isinstance(value, int | float) or not value >= 0 or value == float('inf'):
        raise ConfigError(f'YOLOv5OutputKDLoss: {name} must be a finite number >= 0, got {value!r}')
    return float(value)


@MODELS.register_module()
class YOLOv5OutputKDLoss(nn.Module):
    """The output distillation of YOLOv5's KD script, between two YOLOv5 heads' raw outputs.

    Per output level i, for each anchor of each cell, with the student's raw outputs p and
    the teacher's t (box x, y, w, h, objectness, classes, before any sigmoid) and the weight
    w = sigmoid(t_obj)::

        box_i = mean(w · (p_box − t_box)²)     over N·A·H·W·4
        obj_i = mean(w · (p_obj − t_obj)²)     over N·A·H·W
        cls_i = mean(w · (p_cls − t_cls)²)     over N·A·H·W·K, only when K > 1

    and ``loss = loss_weight · (box_gain·Σ box_i + obj_gain·Σ obj_i + cls_gain·Σ cls_i)``,
    times N · world size with ``batch_scale`` (as YOLOv5 scales its own losses, and so do
    mmyolo's YOLOv5 heads). The gains are YOLOv5's box/obj/cls loss gains: the student head's
    ``loss_bbox``, ``loss_obj`` and ``loss_cls`` weights (``yolov5_kd_distiller`` reads them).

    Args:
        num_classes: the heads' classes K.
        loss_weight: the distillation weight (10 in the study's script).
        box_gain, obj_gain, cls_gain: YOLOv5's loss gains.
        batch_scale: multiply by the batch size and the world size.
    """

    def __init__(
        self,
        num_classes: int,
        loss_weight: float = 10.0,
        box_gain: float = 0.05,
        obj_gain: float = 1.0,
        cls_gain: float = 0.5,
        batch_scale: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(
                f'YOLOv5OutputKDLoss: num_classes must be an int >= 1, got {num_classes!r}'
            )
        self.num_classes = num_classes
        self.loss_weight = _check_number(loss_weight, 'loss_weight')
        self.box_gain = _check_number(box_gain, 'box_gain')
        self.obj_gain = _check_number(obj_gain, 'obj_gain')
        self.cls_gain = _check_number(cls_gain, 'cls_gain')
        self.batch_scale = batch_scale

    @staticmethod
    def _per_anchor(level: Tensor, attributes: int, what: str, i: int, anchors: int) -> Tensor:
        """N×(A·attributes)×H×W -> N×A×attributes×H×W, as mmyolo's head split them."""
        if level.dim() != 4 or level.shape[1] != anchors * attributes:
            raise ConfigError(
                f'YOLOv5OutputKDLoss: {what} of level {i} has shape {tuple(level.shape)}, '
                f"not N×({anchors} anchors·{attributes})×H×W: is the recorder on the YOLOv5 head's "
                "forward (class scores, boxes, objectness), and num_classes the head's?"
            )
        n, channels, h, w = level.shape
        return level.reshape(n, channels // attributes, attributes, h, w).float()

    def forward(
        self,
        cls_S: Sequence[Tensor],  # noqa: N803
        bbox_S: Sequence[Tensor],  # noqa: N803
        obj_S: Sequence[Tensor],  # noqa: N803
        cls_T: Sequence[Tensor],  # noqa: N803
        bbox_T: Sequence[Tensor],  # noqa: N803
        obj_T: Sequence[Tensor],  # noqa: N803
    ) -> Tensor:
        """Computes the loss from both heads' outputs (one tensor per level for each part).

        Returns:
            A float32 scalar.
        """
        shapes = [[tuple(t.shape) for t in part] for part in (cls_S, bbox_S, obj_S)]
        shapes_t = [[tuple(t.shape) for t in part] for part in (cls_T, bbox_T, obj_T)]
        if shapes != shapes_t:
            raise ConfigError(
                'YOLOv5OutputKDLoss: the student and teacher heads output different shapes '
                f'(student {shapes}, teacher {shapes_t}): both must predict the same classes '
                'with the same anchors on the same levels and input size.'
            )
        k = self.num_classes
        box = obj = cls = torch.zeros((), device=obj_S[0].device)
        with torch.autocast(device_type=obj_S[0].device.type, enabled=False):
            for i in range(len(obj_S)):
                a = obj_S[i].shape[1]  # anchors per cell
                t_obj = self._per_anchor(obj_T[i].detach(), 1, 'objectness', i, a)
                weight = torch.sigmoid(t_obj)  # N×A×1×H×W, broadcast over box and classes
                p_obj = self._per_anchor(obj_S[i], 1, 'objectness', i, a)
                obj = obj + (weight * (p_obj - t_obj) ** 2).mean()
                p_box = self._per_anchor(bbox_S[i], 4, 'box', i, a)
                t_box = self._per_anchor(bbox_T[i].detach(), 4, 'box', i, a)
                box = box + (weight * (p_box - t_box) ** 2).mean()
                if k > 1:
                    p_cls = self._per_anchor(cls_S[i], k, 'class scores', i, a)
                    t_cls = self._per_anchor(cls_T[i].detach(), k, 'class scores', i, a)
                    cls = cls + (weight * (p_cls - t_cls) ** 2).mean()
            loss = self.box_gain * box + self.obj_gain * obj + self.cls_gain * cls
            if self.batch_scale:
                loss = loss * obj_S[0].shape[0] * get_world_size()
            return self.loss_weight * loss
