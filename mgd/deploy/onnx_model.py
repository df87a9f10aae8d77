"""The student as an ONNX file of its network alone (image tensor in, raw head outputs out).

Pre-processing (resize, normalise) and post-processing (box decoding, NMS) stay outside the
file, in the config's own code: an ONNX Runtime run is scored and drawn by exactly the mmdet /
mmyolo / mmpretrain code that scores the PyTorch model, so the two differ only where the
network's numbers differ. ``deploy.json`` beside the file says what the network expects.
"""

from __future__ import annotations

import json
import os.path as osp
from collections.abc import Sequence

import torch
from torch import nn

from mgd.analysis.cam import is_detector
from mgd.utils.errors import ConfigError

OPSET = 17


def flatten(outputs) -> list[torch.Tensor]:
    """``model(x, mode='tensor')`` as a flat list: a classifier's logits, or a dense head's
    per-level maps grouped by kind (``(cls_scores, bbox_preds[, objectnesses])``)."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return [t for group in outputs for t in flatten(group)]


def layout(outputs) -> list[int]:
    """How :func:`flatten` grouped them: ``[]`` for one tensor, else the length of each group."""
    if isinstance(outputs, torch.Tensor):
        return []
    return [len(group) if isinstance(group, list | tuple) else 1 for group in outputs]


def unflatten(tensors: Sequence[torch.Tensor], groups: list[int]) -> object:
    """The inverse of :func:`flatten` for the given :func:`layout`."""
    if not groups:
        return tensors[0]
    structured, start = [], 0
    for size in groups:
        structured.append(list(tensors[start : start + size]))
        start += size
    return structured


class RawNetwork(nn.Module):
    """``model(x, mode='tensor')`` as a one-input module with a flat tuple of outputs."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(flatten(self.model(inputs, mode='tensor')))


def expected_input(model: nn.Module) -> dict:
    """What the ONNX network expects: the config's test pipeline (the resize and padding to
    apply) and the data preprocessor's normalisation."""
    from mmdet.utils import get_test_pipeline_cfg
    from mmengine.config import ConfigDict

    def plain(node):
        if isinstance(node, ConfigDict | dict):
            return {k: plain(v) for k, v in node.items()}
        return [plain(v) for v in node] if isinstance(node, list | tuple) else node

    preprocessor = model.data_preprocessor
    mean = getattr(preprocessor, 'mean', None)
    std = getattr(preprocessor, 'std', None)
    return dict(
        pipeline=plain(get_test_pipeline_cfg(model.cfg)),
        mean=None if mean is None else mean.flatten().tolist(),
        std=None if std is None else std.flatten().tolist(),
        rgb=bool(
            getattr(preprocessor, '_channel_conversion', False)
            or getattr(preprocessor, 'to_rgb', False)
        ),
        pad_size_divisor=getattr(preprocessor, 'pad_size_divisor', 1),
        layout='N x 3 x H x W float32: the image after the pipeline, channel-converted, '
        '(x - mean) / std',
    )


def export(model: nn.Module, inputs: torch.Tensor, out_dir: str) -> dict[str, str]:
    """Writes ``out_dir/model.onnx`` (batch, height and width dynamic) and
    ``out_dir/deploy.json``; returns both paths."""
    import warnings

    network = RawNetwork(model).eval()
    with torch.no_grad():
        outputs = model(inputs, mode='tensor')
    names = [f'output{i}' for i in range(len(flatten(outputs)))]
    onnx_file = osp.join(out_dir, 'model.onnx')
    axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
    axes.update({name: {0: 'batch'} for name in names})
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the TorchScript exporter's deprecation and tracer notes
        # The TorchScript exporter: the torch.export one needs onnxscript and fails on
        # mmdet's data-dependent shapes; this one traces the network as it runs.
        torch.onnx.export(
            network, (inputs,), onnx_file, dynamo=False, opset_version=OPSET,
            input_names=['input'], output_names=names, dynamic_axes=axes,
        )  # fmt: skip
    meta = dict(
        input=expected_input(model),
        outputs=names,
        output_groups=layout(outputs),
        classes=list(model.dataset_meta.get('classes', [])),
        task='detection' if is_detector(model) else 'classification',
        opset=OPSET,
    )
    meta_file = osp.join(out_dir, 'deploy.json')
    with open(meta_file, 'w') as f:
        json.dump(meta, f, indent=1)
    return dict(onnx=onnx_file, meta=meta_file)


class OnnxNetwork:
    """An ONNX file run by ONNX Runtime (CPU), called like :class:`RawNetwork`.

    Args:
        path: the ``.onnx`` file.
        threads: ONNX Runtime's intra-op threads (None: its default, one per core).
        spinning: whether its idle threads spin waiting for work (its default, fast for one
            session alone); off for timing several sessions in turn, where a session's
            spinning threads would take the cores of the one being timed.
    """

    def __init__(self, path: str, threads: int | None = None, spinning: bool = True) -> None:
        import onnxruntime as ort

        if not osp.isfile(path):
            raise ConfigError(f'ONNX file {path!r} does not exist')
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        if not spinning:
            options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        self.path = path
        self.session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        self.input = self.session.get_inputs()[0].name

    @property
    def file_mib(self) -> float:
        """The file's size on disk in MiB."""
        return osp.getsize(self.path) / 2**20

    def __call__(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        outputs = self.session.run(None, {self.input: inputs.detach().cpu().float().numpy()})
        return [torch.from_numpy(o) for o in outputs]


def predictions(model: nn.Module, raw: Sequence[torch.Tensor], groups: list[int], samples):
    """The model's own post-processing of raw outputs: detections (``InstanceData`` in the
    original image's coordinates) or class scores."""
    structured = unflatten(raw, groups)
    if is_detector(model):
        metas = [s.metainfo for s in samples]
        return model.bbox_head.predict_by_feat(*structured, batch_img_metas=metas, rescale=True)
    return [scores for scores in structured.softmax(-1)]


def paired_predictions(model: nn.Module, onnx_file: str, images: Sequence[str]):
    """Per image: ``(image, largest |raw output difference|, PyTorch's prediction, the ONNX
    network's prediction)``, both decoded by the model's own post-processing."""
    from mgd.analysis.models import load_image

    onnx = OnnxNetwork(onnx_file)
    for image in images:
        inputs, sample = load_image(model, image)
        with torch.no_grad():
            outputs = model(inputs, mode='tensor')
        reference, groups = flatten(outputs), layout(outputs)
        got = onnx(inputs)
        diff = max(float((a - b).abs().max()) for a, b in zip(reference, got))
        ours, theirs = (predictions(model, r, groups, [sample])[0] for r in (reference, got))
        yield image, diff, ours, theirs


def compare(model: nn.Module, onnx_file: str, images: Sequence[str]) -> list[dict]:
    """Per image: the largest |difference| of the raw outputs (ONNX Runtime vs PyTorch) and
    whether the final predictions are the same (detections: same count and labels, boxes
    within 0.01 px, scores within 1e-4; classes: the same top-1)."""
    rows = []
    for image, diff, ours, theirs in paired_predictions(model, onnx_file, images):
        if is_detector(model):
            same = len(ours) == len(theirs) and bool(
                (ours.labels == theirs.labels).all()
                and ((ours.bboxes - theirs.bboxes).abs().max() <= 0.01 if len(ours) else True)
                and ((ours.scores - theirs.scores).abs().max() <= 1e-4 if len(ours) else True)
            )
            count = len(ours)
        else:
            same, count = int(ours.argmax()) == int(theirs.argmax()), 1
        rows.append(dict(image=image, max_abs_diff=diff, same=same, predictions=count))
    return rows


def training_images(model: nn.Module) -> list[str]:
    """The image files of the config's training set (``train_dataloader.dataset``), sorted:
    what INT8 is calibrated on by default."""
    from mmengine.registry import DATASETS, DefaultScope

    from mgd.utils.preflight import check_data

    cfg = model.cfg
    if 'train_dataloader' not in cfg:
        raise ConfigError('the config has no train_dataloader: pass --int8 IMAGES to calibrate on')
    check_data(cfg, 'train')  # names every missing file
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
    images = sorted({dataset.get_data_info(i)['img_path'] for i in range(len(dataset))})
    if not images:
        raise ConfigError('the training set of the config is empty: pass --int8 IMAGES')
    return images


def quantize(model: nn.Module, onnx_file: str, images: Sequence[str], out_file: str) -> str:
    """ONNX Runtime's static INT8 quantization of ``onnx_file`` (QDQ format; weights int8 per
    channel, activations uint8 per tensor, ranges by min-max), calibrated on ``images`` as the
    model's test pipeline prepares them. Returns ``out_file``."""
    import os
    import tempfile

    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from mgd.analysis.models import load_image

    class Calibration(CalibrationDataReader):
        def __init__(self) -> None:
            self.todo = iter(images)

        def get_next(self) -> dict | None:
            image = next(self.todo, None)
            if image is None:
                return None
            return {'input': load_image(model, image)[0].cpu().numpy()}

    folder = osp.dirname(osp.abspath(out_file))
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        prepared = osp.join(scratch, 'prepared.onnx')
        quant_pre_process(onnx_file, prepared, skip_symbolic_shape=True)
        quantize_static(
            prepared, osp.join(scratch, 'int8.onnx'), Calibration(),
            quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        )  # fmt: skip
        os.replace(osp.join(scratch, 'int8.onnx'), out_file)
    return out_file


def agreement(
    model: nn.Module, onnx_file: str, images: Sequence[str], score_thr: float = 0.3
) -> list[dict]:
    """Per image, how far an approximate network (INT8) lands from PyTorch: the largest raw
    |difference|, and of PyTorch's detections scoring at least ``score_thr`` how many the ONNX
    network also finds (same class, IoU ≥ 0.5, score ≥ ``score_thr``); a classifier's top-1."""
    from mmdet.structures.bbox import bbox_overlaps

    rows = []
    for image, diff, ours, theirs in paired_predictions(model, onnx_file, images):
        if is_detector(model):
            ours, theirs = ours[ours.scores >= score_thr], theirs[theirs.scores >= score_thr]
            found = 0
            if len(ours) and len(theirs):
                overlap = bbox_overlaps(ours.bboxes, theirs.bboxes)
                overlap[ours.labels[:, None] != theirs.labels[None, :]] = 0
                found = int((overlap.max(dim=1).values >= 0.5).sum())
            rows.append(dict(image=image, max_abs_diff=diff, found=found, total=len(ours)))
        else:
            same = int(ours.argmax()) == int(theirs.argmax())
            rows.append(dict(image=image, max_abs_diff=diff, found=int(same), total=1))
    return rows


def predict_with_onnx(model: nn.Module, onnx_file: str) -> nn.Module:
    """Makes ``model`` (a detector or classifier built from its config; a distillation model:
    its student) predict through ``onnx_file`` under ONNX Runtime: the network's outputs come
    from the file, pre- and post-processing stay the model's. ``tools/test.py`` and
    ``tools/infer.py`` score and draw an exported model this way. Returns ``model``."""
    student = getattr(model, 'architecture', model)
    onnx = OnnxNetwork(onnx_file)
    with torch.no_grad():  # how the raw outputs group (levels per kind), from a small input
        groups = layout(student(torch.zeros(1, 3, 64, 64), mode='tensor'))

    def predict(batch_inputs, batch_data_samples, rescale=True):
        structured = unflatten(onnx(batch_inputs), groups)
        if is_detector(student):
            metas = [sample.metainfo for sample in batch_data_samples]
            results = student.bbox_head.predict_by_feat(
                *structured, batch_img_metas=metas, rescale=rescale
            )
            return student.add_pred_to_datasample(batch_data_samples, results)
        return student.head._get_predictions(structured, batch_data_samples)

    student.predict = predict
    return model


def onnx_model(config: str, onnx_file: str) -> nn.Module:
    """The model of ``config`` (the student of a distillation config) predicting through
    ``onnx_file`` under ONNX Runtime, for :func:`mgd.analysis.inference.draw_detections`."""
    from mgd.analysis.models import build_model

    return predict_with_onnx(build_model(config, init_weights=False), onnx_file)
