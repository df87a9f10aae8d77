"""What every analysis tool needs: the model a config evaluates, its weights, an input image.

For a distillation config (``MGDDistill``) that model is the student (``model.architecture``);
its weights are the ``architecture.*`` tensors of a distillation checkpoint. Building the
student alone builds no teacher, so no teacher checkpoint is needed.
"""

from __future__ import annotations

import os.path as osp

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope
from mmengine.runner import CheckpointLoader
from mmengine.runner.checkpoint import load_state_dict
from mmrazor.registry import MODELS
from torch import nn

from mgd.checkpoint import distill_to_student

DISTILL_TYPES = ('MGDDistill', 'mmrazor.MGDDistill')


def is_distillation(cfg: Config) -> bool:
    """Whether ``cfg.model`` is an ``MGDDistill`` (else a plain model config)."""
    return cfg.model.get('type') in DISTILL_TYPES


def student_config(cfg: Config | str) -> Config:
    """A copy of ``cfg`` whose ``model`` is the model the config evaluates.

    For a distillation config that is the student, with the distiller's (or the config's
    top-level) ``data_preprocessor`` when the student has none, the way mmengine's Runner
    hands it over. The student's backbone ``init_cfg`` is dropped: the weights come from a
    checkpoint, and no pretrained file is downloaded.

    Args:
        cfg: a config or its path.

    Returns:
        The new config; ``cfg`` is left as it was.
    """
    if isinstance(cfg, str):
        if not osp.isfile(cfg):
            raise FileNotFoundError(f'config {cfg!r} does not exist')
        cfg = Config.fromfile(cfg)
    cfg = cfg.copy()
    model = ConfigDict(cfg.model.architecture if is_distillation(cfg) else cfg.model)
    if model.get('data_preprocessor') is None:
        preprocessor = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor')
        if preprocessor is not None:
            model.data_preprocessor = preprocessor
    if isinstance(model.get('backbone'), dict):
        model.backbone.init_cfg = None
    cfg.model = model
    return cfg


def build_model(
    cfg: Config | str,
    checkpoint: str | None = None,
    device: str = 'cpu',
    init_weights: bool = True,
) -> nn.Module:
    """Builds the model ``cfg`` evaluates (the student of a distillation config), in eval mode.

    Args:
        cfg: a config or its path.
        checkpoint: weights to load strictly: a plain checkpoint, or a distillation
            checkpoint (its ``architecture.*`` tensors). None keeps the random initialisation.
        device: where the model goes.
        init_weights: without a checkpoint, run the config's initialisation (else keep the
            layers' default one, e.g. where only shapes matter).

    Returns:
        The model, with ``cfg`` attached as ``model.cfg`` and ``model.dataset_meta`` set from
        the checkpoint's meta (or the config's dataset ``metainfo``).
    """
    cfg = student_config(cfg)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(cfg.model)
    meta = {}
    if checkpoint is None:
        if init_weights:
            model.init_weights()
    else:  # a strict load sets every tensor: initialising first would only cost time
        meta = load_weights(model, checkpoint)
    model.cfg = cfg
    model.dataset_meta = dict(meta.get('dataset_meta') or dataset_metainfo(cfg))
    return model.to(device).eval()


def load_weights(model: nn.Module, path: str) -> dict:
    """Loads a checkpoint (plain, or distillation: its student) into ``model``, strictly.

    Returns:
        The checkpoint's ``meta`` dict.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} does not exist')
    checkpoint = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    state_dict = checkpoint.get('state_dict', checkpoint)
    if any(key.startswith('architecture.') for key in state_dict):
        checkpoint = distill_to_student(checkpoint)
        state_dict = checkpoint['state_dict']
    state_dict = {key.removeprefix('module.'): value for key, value in state_dict.items()}
    try:
        load_state_dict(model, state_dict, strict=True)
    except RuntimeError as err:
        raise RuntimeError(f"checkpoint {path!r} does not fit the config's model: {err}") from err
    return checkpoint.get('meta', {})


def dataset_metainfo(cfg: Config) -> dict:
    """The ``metainfo`` of the config's test (else val) dataset, or an empty dict."""
    for split in ('test_dataloader', 'val_dataloader'):
        dataset = cfg.get(split, {}).get('dataset', {})
        if dataset.get('metainfo'):
            return dict(dataset.metainfo)
    return {}


def test_pipeline_cfg(cfg: Config) -> list[dict]:
    """The config's test (else val) pipeline without annotation loading (no labels at hand)."""
    for split in ('test_dataloader', 'val_dataloader'):
        dataset = cfg.get(split, {}).get('dataset', {})
        while 'pipeline' not in dataset and 'dataset' in dataset:  # dataset wrappers
            dataset = dataset.dataset
        if 'pipeline' in dataset:
            return [dict(t) for t in dataset.pipeline if 'LoadAnnotations' not in t['type']]
    raise ValueError('the config has no test_dataloader.dataset.pipeline')


def load_image(model: nn.Module, image: str) -> tuple[torch.Tensor, object]:
    """Reads ``image`` through the config's test pipeline and the model's data preprocessor.

    Args:
        model: a model from :func:`build_model` (its ``cfg`` gives the pipeline).
        image: an image file.

    Returns:
        The batch of one preprocessed image (N=1, on the model's device) and its data sample.
    """
    from mmengine.dataset import Compose

    if not osp.isfile(image):
        raise FileNotFoundError(f'image {image!r} does not exist')
    with DefaultScope.overwrite_default_scope(model.cfg.get('default_scope')):
        pipeline = Compose(test_pipeline_cfg(model.cfg))
    data = pipeline(dict(img_path=image, img_id=0))
    batch = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
    with torch.no_grad():
        batch = model.data_preprocessor(batch, False)
    return batch['inputs'], batch['data_samples'][0]
