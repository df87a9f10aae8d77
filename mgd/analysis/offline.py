"""Models and batches without data or downloads, for checks of every config: the one
"build offline" helper (:func:`offline_config`, :func:`build_offline`) and synthetic batches
as a dataloader gives them. Used by ``tools/misc/gpu_check.py``, the benchmark and the tests.

torch and the OpenMMLab packages are imported when a model or a batch is made, not with this
module.
"""

from __future__ import annotations

from mgd.utils.errors import ConfigError

TASKS = dict(mmdet='detection', mmyolo='yolo', mmpretrain='classification', mmseg='segmentation')
# (H, W) of tiny inputs: 96, not 64, for detection, as a 3x3 DCN needs a 3x3 map at stride 32
TINY_SIZE = {
    'detection': (96, 96),
    'yolo': (96, 96),
    'classification': (32, 32),
    'segmentation': (64, 64),
}


def offline_config(cfg, **model_overrides):
    """A copy of a config (or the config at a path, ``pkg::`` paths too) whose model builds
    without downloading anything.

    Every teacher checkpoint is unset (random teachers: ``MGDDistill`` never initialises a
    teacher), every ``init_cfg`` and ``pretrained`` file that is not a local file is dropped
    (a model a config names by ``cfg_path`` is read in first, so its own go too), ``load_from``
    is None, ``model_overrides`` are set on ``cfg.model``, and the top-level
    ``data_preprocessor`` is merged into the model the way mmengine's Runner does it.
    """
    from mmengine.config import Config

    from mgd.utils.config import drop_pretrained
    from mgd.utils.distill_config import drop_teacher_ckpts

    if isinstance(cfg, Config):
        cfg = cfg.copy()
    elif '::' in str(cfg):
        from mmengine.hub import get_config

        cfg = get_config(str(cfg))
    else:
        cfg = Config.fromfile(str(cfg))
    drop_teacher_ckpts(cfg.model)
    for key in ('architecture', 'teacher'):  # mmrazor's dict(cfg_path=...): the model it names
        if isinstance(cfg.model.get(key), dict) and 'cfg_path' in cfg.model[key]:
            cfg.model[key] = _model_of(cfg.model[key])
    drop_pretrained(cfg.model, keep_local=True)
    cfg.load_from = None
    cfg.model.update(model_overrides)
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    return cfg


def _model_of(spec: dict):
    """The model config ``dict(cfg_path=..., **overrides)`` names (as mmrazor builds it)."""
    from mmengine.config import Config, ConfigDict
    from mmengine.hub import get_config

    spec = dict(spec)
    path = spec.pop('cfg_path')
    spec.pop('pretrained', None)
    named = get_config(path) if '::' in path else Config.fromfile(path)
    model = ConfigDict(named.model)
    model.setdefault('_scope_', named.get('default_scope'))
    model.merge(spec)
    return model


def build_offline(cfg):
    """Builds ``cfg.model`` through mmrazor's ``MODELS`` (which reaches mmdet's, mmpretrain's
    and mmseg's) under the config's default scope; no weights are initialised or loaded."""
    from mmengine.registry import DefaultScope
    from mmrazor.registry import MODELS

    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        return MODELS.build(cfg.model)


def task_of(cfg) -> str:
    """``'detection'``, ``'yolo'``, ``'classification'`` or ``'segmentation'``, from the
    config's scope; ``'yolo'`` (boxes collated by mmyolo's ``yolov5_collate``) only where the
    training dataloader collates that way, as mmyolo's "fast" configs do."""
    if cfg.get('default_scope') not in TASKS:
        raise ConfigError(f"no synthetic batch for default_scope {cfg.get('default_scope')!r}")
    task = TASKS[cfg.default_scope]
    collate = (cfg.get('train_dataloader') or {}).get('collate_fn') or {}
    if task == 'yolo' and 'yolov5_collate' not in str(collate.get('type')):
        return 'detection'
    return task


def num_classes_of(node) -> int | None:
    """The first ``num_classes`` in a model config (its head's), or None."""
    if isinstance(node, dict):
        if isinstance(node.get('num_classes'), int):
            return node['num_classes']
        node = list(node.values())
    if isinstance(node, list | tuple):
        return next((n for n in map(num_classes_of, node) if n is not None), None)
    return None


def synthetic_batch(
    task: str, batch_size: int, size: tuple[int, int], num_classes: int, boxes_per_image: int = 8
) -> dict:
    """A batch as the dataloader gives it: uint8 images and random boxes with masks
    (detection), the same boxes collated as mmyolo's ``yolov5_collate`` does in training
    (``yolo``), per-pixel labels (segmentation) or labels (classification), all below
    ``num_classes``."""
    import torch

    if task in ('detection', 'yolo'):
        from mmdet.testing import demo_mm_inputs

        batch = demo_mm_inputs(
            batch_size,
            [(3, *size)] * batch_size,
            num_items=[boxes_per_image] * batch_size,
            num_classes=num_classes,
            with_mask=task == 'detection',
        )
        for sample in batch['data_samples']:  # PackDetInputs gives ignored boxes labels too
            ignored = sample.ignored_instances
            if 'labels' not in ignored:
                ignored.labels = torch.zeros(len(ignored.bboxes), dtype=torch.long)
        if task == 'detection':
            return batch
        from mmdet.structures.bbox import HorizontalBoxes
        from mmyolo.datasets.utils import yolov5_collate

        for sample in batch['data_samples']:  # the pipeline's box type
            sample.gt_instances.bboxes = HorizontalBoxes(sample.gt_instances.bboxes)

        return yolov5_collate(
            [
                dict(inputs=i, data_samples=s)
                for i, s in zip(batch['inputs'], batch['data_samples'], strict=True)
            ]
        )
    generator = torch.Generator().manual_seed(0)
    if task == 'segmentation':
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample

        images, samples = [], []
        for _ in range(batch_size):
            images.append(torch.randint(0, 256, (3, *size), dtype=torch.uint8, generator=generator))
            labels = torch.randint(0, num_classes, (1, *size), generator=generator)
            sample = SegDataSample(gt_sem_seg=PixelData(data=labels))
            sample.set_metainfo(dict(img_shape=size, ori_shape=size))
            samples.append(sample)
        return dict(inputs=images, data_samples=samples)
    from mmpretrain.structures import DataSample

    images = [
        torch.randint(0, 256, (3, *size), dtype=torch.uint8, generator=generator)
        for _ in range(batch_size)
    ]
    labels = torch.randint(0, num_classes, (batch_size,), generator=generator)
    return dict(inputs=images, data_samples=[DataSample().set_gt_label(x) for x in labels])
