"""mmcv's compiled ``_ext`` functions, re-implemented on torchvision's compiled ops and torch.

Each function here takes exactly the arguments that ``mmcv.ops`` (2.1.0) passes to the
``ext_module`` function of the same name (positional tensors, keyword parameters), writes its
results into the buffers mmcv pre-allocates, and returns what the compiled function returns.
:mod:`mgd.compat.cuda_ops` sends CUDA tensors here when mmcv was built without CUDA ops.

Half and bfloat16 tensors (AMP) are computed in float32 and written back in their own dtype.
Gradients are added to mmcv's buffers (which it zero-fills), as mmcv's kernels do.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

# FLT_MIN: mmcv's focal kernels clamp the argument of log() at it.
FLT_MIN = torch.finfo(torch.float32).tiny

MAX_POOL_UNSUPPORTED = (
    "RoIAlign with pool_mode='max' has no torchvision kernel, and this mmcv was built without "
    "CUDA ops: set roi_layer.pool_mode='avg' (the default of every mmdet config) in the "
    'config, or install mmcv compiled with CUDA ops (FORCE_CUDA=1).'
)


def _f32(tensor: Tensor) -> Tensor:
    """``tensor`` in float32 when it is half or bfloat16 (AMP), else itself."""
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


@contextlib.contextmanager
def _atomic_adds_allowed():
    """Under ``torch.use_deterministic_algorithms(True)`` (mmengine's
    ``randomness.deterministic``), torchvision's CUDA backward kernels, which accumulate with
    atomic adds as mmcv's do, raise; mmcv's CUDA kernels run without a word. Here they warn
    (``warn_only``) and run; the setting is restored after."""
    if not torch.are_deterministic_algorithms_enabled():
        yield
        return
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(True, warn_only=warn_only)


def _tv():
    """torchvision's compiled operators (``torch.ops.torchvision``), loaded on first use."""
    import torchvision  # noqa: F401  (registers torch.ops.torchvision)

    return torch.ops.torchvision


# --- NMS -------------------------------------------------------------------------------------


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float, offset: int) -> Tensor:
    """Indices of the boxes kept, by decreasing score (``mmcv._ext.nms``).

    torchvision has no ``offset``: with ``offset=1`` a box is ``x2 - x1 + 1`` wide, which is
    the same as adding 1 to ``x2`` and ``y2``, for areas and for overlaps alike.
    The threshold is rounded to float32 as mmcv's kernels take it: torchvision's CPU kernel
    compares in double, and would suppress a box whose float32 IoU rounds to, say, 0.3f.
    """
    boxes = boxes.float()
    if offset:
        boxes = torch.cat([boxes[:, :2], boxes[:, 2:] + offset], dim=1)
    threshold = torch.tensor(float(iou_threshold), dtype=torch.float32).item()
    return _tv().nms(boxes, scores.float(), threshold)


# --- RoIAlign --------------------------------------------------------------------------------


def roi_align_forward(
    input: Tensor,
    rois: Tensor,
    output: Tensor,
    argmax_y: Tensor,
    argmax_x: Tensor,
    aligned_height: int,
    aligned_width: int,
    spatial_scale: float,
    sampling_ratio: int,
    pool_mode: int,
    aligned: bool,
) -> None:
    """RoIAlign into ``output`` (rois ``(idx, x1, y1, x2, y2)``; ``pool_mode`` 1 is avg).

    ``sampling_ratio`` 0 (adaptive: ``ceil(roi size / output size)`` points per bin) means
    the same to torchvision, which takes any value <= 0 as adaptive.
    """
    if pool_mode == 0:
        raise NotImplementedError(MAX_POOL_UNSUPPORTED)
    features = _f32(input)
    pooled = _tv().roi_align(
        features,
        rois.to(features.dtype),
        float(spatial_scale),
        int(aligned_height),
        int(aligned_width),
        int(sampling_ratio),
        bool(aligned),
    )
    output.copy_(pooled)


def roi_align_backward(
    grad_output: Tensor,
    rois: Tensor,
    argmax_y: Tensor,
    argmax_x: Tensor,
    grad_input: Tensor,
    aligned_height: int,
    aligned_width: int,
    spatial_scale: float,
    sampling_ratio: int,
    pool_mode: int,
    aligned: bool,
) -> None:
    """Adds the gradient of :func:`roi_align_forward` to ``grad_input``."""
    if pool_mode == 0:
        raise NotImplementedError(MAX_POOL_UNSUPPORTED)
    grad = _f32(grad_output)
    batch, channels, height, width = grad_input.shape
    with _atomic_adds_allowed():
        grad_features = _tv()._roi_align_backward(
            grad.contiguous(),
            rois.to(grad.dtype),
            float(spatial_scale),
            int(aligned_height),
            int(aligned_width),
            batch,
            channels,
            height,
            width,
            int(sampling_ratio),
            bool(aligned),
        )
    grad_input.add_(grad_features)


# --- sigmoid focal loss ----------------------------------------------------------------------


def _focal_terms(input: Tensor, target: Tensor, weight: Tensor):
    """``(p, is_target, class weight)`` as mmcv's kernel computes them, in float32.

    ``p = 1 / (1 + exp(-x))`` is written out (not ``torch.sigmoid``) so that it rounds as the
    kernel does: exactly 1 for large logits, where the kernel's ``log(max(1 - p, FLT_MIN))``
    is ``log(FLT_MIN)`` = -87.3 (the exact loss would grow with the logit).
    """
    logits = input.float()
    p = 1.0 / (1.0 + torch.exp(-logits))
    classes = torch.arange(logits.size(1), device=logits.device)
    is_target = target.view(-1, 1) == classes.view(1, -1)
    if weight.numel() == 0:
        return p, is_target, None
    # mmcv reads weight[target] even for the background label (num_classes), past the end
    # of weight; here the background rows get weight 1.
    padded = torch.cat([weight.float(), weight.new_ones(1, dtype=torch.float32)])
    class_weight = padded[target.clamp(min=0, max=weight.numel())].view(-1, 1)
    return p, is_target, class_weight


def sigmoid_focal_loss_forward(
    input: Tensor, target: Tensor, weight: Tensor, output: Tensor, gamma: float, alpha: float
) -> None:
    """Per-element sigmoid focal loss into ``output``; ``target == num_classes`` is
    background, an empty ``weight`` means no class weights."""
    p, is_target, class_weight = _focal_terms(input, target, weight)
    log_p = torch.log(p.clamp(min=FLT_MIN))
    log_not_p = torch.log((1.0 - p).clamp(min=FLT_MIN))
    positive = -alpha * (1.0 - p).pow(gamma) * log_p
    negative = -(1.0 - alpha) * p.pow(gamma) * log_not_p
    loss = torch.where(is_target, positive, negative)
    if class_weight is not None:
        loss = loss * class_weight
    output.copy_(loss)


def sigmoid_focal_loss_backward(
    input: Tensor, target: Tensor, weight: Tensor, grad_input: Tensor, gamma: float, alpha: float
) -> None:
    """d(loss)/d(input) of :func:`sigmoid_focal_loss_forward` into ``grad_input`` (mmcv
    multiplies by the upstream gradient and the mean's 1/N itself)."""
    p, is_target, class_weight = _focal_terms(input, target, weight)
    log_p = torch.log(p.clamp(min=FLT_MIN))
    log_not_p = torch.log((1.0 - p).clamp(min=FLT_MIN))
    positive = -alpha * (1.0 - p).pow(gamma) * (1.0 - p - gamma * p * log_p)
    negative = -(1.0 - alpha) * p.pow(gamma) * (gamma * (1.0 - p) * log_not_p - p)
    grad = torch.where(is_target, positive, negative)
    if class_weight is not None:
        grad = grad * class_weight
    grad_input.copy_(grad)


# --- deformable convolution (v1 and modulated v2) --------------------------------------------


def _deform_args(input, weight, offset, mask, bias, stride, pad, dilation, groups, offset_groups):
    """The argument list of ``torchvision::deform_conv2d`` (and its backward, after grad)."""
    use_mask = mask is not None
    dtype = _f32(input).dtype
    if mask is None:
        mask = input.new_zeros((input.size(0), 1), dtype=dtype)
    if bias is None:
        bias = input.new_zeros(weight.size(0), dtype=dtype)
    tensors = [t.to(dtype).contiguous() for t in (input, weight, offset, mask, bias)]
    return [*tensors, *stride, *pad, *dilation, int(groups), int(offset_groups), use_mask]


def deform_conv_forward(
    input, weight, offset, output, columns, ones,
    kW, kH, dW, dH, padW, padH, dilationW, dilationH, group, deformable_group, im2col_step,
) -> None:  # fmt: skip
    """Deformable convolution v1 (no bias) into ``output``."""
    args = _deform_args(
        input, weight, offset, None, None,
        (dH, dW), (padH, padW), (dilationH, dilationW), group, deformable_group,
    )  # fmt: skip
    output.copy_(_tv().deform_conv2d(*args))


class _WeightGradCache:
    """The weight gradient that :func:`deform_conv_backward_input` computed along with the
    input and offset gradients, kept for the ``deform_conv_backward_parameters`` call that
    mmcv makes next with the same tensors (torchvision computes all gradients in one call).

    One entry, holding its tensors: while it lives no other tensor can take their memory, so
    matching by identity and version is exact.
    """

    entry: tuple | None = None

    @classmethod
    def put(cls, tensors: tuple, params: tuple, grad_weight: Tensor) -> None:
        cls.entry = (tensors, tuple(t._version for t in tensors), params, grad_weight)

    @classmethod
    def take(cls, tensors: tuple, params: tuple) -> Tensor | None:
        entry, cls.entry = cls.entry, None
        if entry is None:
            return None
        held, versions, held_params, grad_weight = entry
        same = all(a is b for a, b in zip(held, tensors)) and held_params == params
        if same and versions == tuple(t._version for t in tensors):
            return grad_weight
        return None


def deform_conv_backward_input(
    input, offset, gradOutput, gradInput, gradOffset, weight, columns,
    kW, kH, dW, dH, padW, padH, dilationW, dilationH, group, deformable_group, im2col_step,
) -> None:  # fmt: skip
    """Adds the input and offset gradients of deformable convolution v1."""
    params = ((dH, dW), (padH, padW), (dilationH, dilationW), group, deformable_group)
    args = _deform_args(input, weight, offset, None, None, *params)
    with _atomic_adds_allowed():
        grad_in, grad_weight, grad_offset, _, _ = _tv()._deform_conv2d_backward(
            _f32(gradOutput).contiguous(), *args
        )
    gradInput.add_(grad_in)
    gradOffset.add_(grad_offset)
    _WeightGradCache.put((input, offset, gradOutput), params, grad_weight)


def deform_conv_backward_parameters(
    input, offset, gradOutput, gradWeight, columns, ones,
    kW, kH, dW, dH, padW, padH, dilationW, dilationH, group, deformable_group, scale,
    im2col_step,
) -> None:  # fmt: skip
    """Adds ``scale`` times the weight gradient of deformable convolution v1.

    mmcv passes no weight here. The convolution is linear in its weight, so its weight
    gradient does not depend on it: unless the preceding input-gradient call left it, it is
    computed with a zero weight of ``gradWeight``'s shape.
    """
    params = ((dH, dW), (padH, padW), (dilationH, dilationW), group, deformable_group)
    grad_weight = _WeightGradCache.take((input, offset, gradOutput), params)
    if grad_weight is None:
        weight = torch.zeros_like(gradWeight)
        args = _deform_args(input, weight, offset, None, None, *params)
        with _atomic_adds_allowed():
            _, grad_weight, _, _, _ = _tv()._deform_conv2d_backward(
                _f32(gradOutput).contiguous(), *args
            )
    gradWeight.add_(grad_weight, alpha=scale)


def modulated_deform_conv_forward(
    input, weight, bias, ones, offset, mask, output, columns,
    kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w,
    group, deformable_group, with_bias,
) -> None:  # fmt: skip
    """Modulated deformable convolution (v2) into ``output``."""
    args = _deform_args(
        input, weight, offset, mask, bias if with_bias else None,
        (stride_h, stride_w), (pad_h, pad_w), (dilation_h, dilation_w), group, deformable_group,
    )  # fmt: skip
    output.copy_(_tv().deform_conv2d(*args))


def modulated_deform_conv_backward(
    input, weight, bias, ones, offset, mask, columns,
    grad_input, grad_weight, grad_bias, grad_offset, grad_mask, grad_output,
    kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w,
    group, deformable_group, with_bias,
) -> None:  # fmt: skip
    """Adds every gradient of modulated deformable convolution (bias only ``with_bias``)."""
    args = _deform_args(
        input, weight, offset, mask, bias if with_bias else None,
        (stride_h, stride_w), (pad_h, pad_w), (dilation_h, dilation_w), group, deformable_group,
    )  # fmt: skip
    with _atomic_adds_allowed():
        grads = _tv()._deform_conv2d_backward(_f32(grad_output).contiguous(), *args)
    for buffer, grad in zip((grad_input, grad_weight, grad_offset, grad_mask), grads[:4]):
        buffer.add_(grad)
    if with_bias:
        grad_bias.add_(grads[4])


KERNELS = {
    'nms': nms,
    'roi_align_forward': roi_align_forward,
    'roi_align_backward': roi_align_backward,
    'sigmoid_focal_loss_forward': sigmoid_focal_loss_forward,
    'sigmoid_focal_loss_backward': sigmoid_focal_loss_backward,
    'deform_conv_forward': deform_conv_forward,
    'deform_conv_backward_input': deform_conv_backward_input,
    'deform_conv_backward_parameters': deform_conv_backward_parameters,
    'modulated_deform_conv_forward': modulated_deform_conv_forward,
    'modulated_deform_conv_backward': modulated_deform_conv_backward,
}
"""The ``mmcv._ext`` functions re-implemented here, by name."""
