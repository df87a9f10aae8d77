"""Synthetic batches, as a dataloader gives them, for checks that need no dataset:
``tools/misc/gpu_check.py`` and the tests' one-step checks of every config.

torch and the OpenMMLab packages are imported when a batch is made, not with this module.
"""

from __future__ import annotations

TASKS = dict(mmdet='detection', mmpretrain='classification', mmseg='segmentation')
# (H, W) of tiny inputs: 96, not 64, for detection, as a 3x3 DCN needs a 3x3 map at stride 32
TINY_SIZE = {'detection': (96, 96), 'classification': (32, 32), 'segmentation': (64, 64)}


def task_of(cfg) -> str:
    """``'detection'``, ``'classification'`` or ``'segmentation'``, from the config's scope."""
    if cfg.get('default_scope') not in TASKS:
        raise ValueError(f"no synthetic batch for default_scope {cfg.get('default_scope')!r}")
    return TASKS[cfg.default_scope]


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
    (detection), per-pixel labels (segmentation) or labels (classification), all below
    ``num_classes``."""
    import torch

    if task == 'detection':
        from mmdet.testing import demo_mm_inputs

        return demo_mm_inputs(
            batch_size,
            [(3, *size)] * batch_size,
            num_items=[boxes_per_image] * batch_size,
            num_classes=num_classes,
            with_mask=True,
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
