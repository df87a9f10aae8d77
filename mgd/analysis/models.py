"""What every analysis tool needs: the model a config evaluates, its weights, an input image.

For a distillation config (``MGDDistill``) that model is the student (``model.architecture``,
see :func:`mgd.utils.distill_config.student_config`); its weights are the ``architecture.*``
tensors of a distillation checkpoint. Building the student alone builds no teacher, so no teacher
checkpoint is needed.
"""

from __future__ import annotations

import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model
from torch import nn

from mgd.analysis.offline import build_offline
from mgd.utils.distill_config import distill_to_student, is_distill_state, student_config
from mgd.utils.errors import CheckpointError, MissingFileError


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
    # Not mmdet's init_detector / mmpretrain's init_model (get_model): they load non-strictly,
    # each builds one library's models only, and init_detector sets the default scope globally.
    model = build_offline(cfg)
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
        raise MissingFileError(f'checkpoint {path!r} does not exist')
    checkpoint = _load_checkpoint(path, map_location='cpu', logger='current')
    if is_distill_state(checkpoint.get('state_dict', checkpoint)):
        checkpoint = distill_to_student(checkpoint)
    try:  # mmengine strips the ``module.`` prefix of DDP checkpoints
        _load_checkpoint_to_model(model, checkpoint, strict=True, logger='current')
    except RuntimeError as err:
        raise CheckpointError(
            f"checkpoint {path!r} does not fit the config's model: {err}"
        ) from err
    return checkpoint.get('meta', {})


def dataset_metainfo(cfg: Config) -> dict:
    """The ``metainfo`` of the config's test (else val) dataset, else its class's ``METAINFO``
    (e.g. ``mgd.NEUDETDataset``), or an empty dict."""
    from mmengine.registry import DATASETS

    for split in ('test_dataloader', 'val_dataloader'):
        dataset = cfg.get(split, {}).get('dataset', {})
        if dataset.get('metainfo'):
            return dict(dataset.metainfo)
        with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
            dataset_type = DATASETS.get(dataset.get('type', ''))
        if getattr(dataset_type, 'METAINFO', None):
            return dict(dataset_type.METAINFO)
    return {}


def test_pipeline(model: nn.Module):
    """The config's test pipeline (mmdet's ``get_test_pipeline_cfg``), built in its scope."""
    from mmdet.utils import get_test_pipeline_cfg
    from mmengine.dataset import Compose

    with DefaultScope.overwrite_default_scope(model.cfg.get('default_scope')):
        return Compose(get_test_pipeline_cfg(model.cfg))


def load_image(model: nn.Module, image: str) -> tuple[torch.Tensor, object]:
    """Reads ``image`` through the config's test pipeline and the model's data preprocessor.

    Args:
        model: a model from :func:`build_model` (its ``cfg`` gives the pipeline).
        image: an image file.

    Returns:
        The batch of one preprocessed image (N=1, on the model's device) and its data sample.
    """
    if not osp.isfile(image):
        raise MissingFileError(f'image {image!r} does not exist')
    data = test_pipeline(model)(dict(img_path=image, img_id=0))
    batch = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
    with torch.no_grad():
        batch = model.data_preprocessor(batch, False)
    return batch['inputs'], batch['data_samples'][0]
