"""The experiment of ``tools/demo.py`` on a detection data set of one's own (``--data PATH``).

Three steps, each printed by the command:

1. ``prepare_data``: a COCO layout (``PATH/annotations/instances_{train,val}[,_test].json``
   and ``PATH/images/``) is used as it is; a Pascal-VOC folder is converted into
   ``data/<name>/`` as ``tools/dataset_converters/voc_to_coco.py`` does, keeping a split that
   comes with it (``ImageSets/Main`` or ``--split-file``).
2. ``choose_input``: the input size from the training boxes (the small ones must reach the
   detector's smallest anchors, the long side stays within a budget) and anchors that fit the
   boxes' shapes (RetinaNet: three aspect ratios; YOLOv5: nine sizes by k-means).
3. ``write_configs``: the experiment's configs (the NEU-DET from-scratch recipe, or the
   pretrained one) adapted to the data (classes, size, anchors, data root, YOLOv5's loss gains)
   and written in full into ``WORK_DIR/configs/``, where ``tools/train.py`` and
   ``tools/test.py`` take them as they are.
"""

from __future__ import annotations

import json
import os
import os.path as osp
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from mmengine.config import Config

from mgd.utils.errors import ConfigError

# The side, in input pixels, that the 10th-percentile box is scaled to: at least 1.5-2 cells of
# the finest level (stride 8) of either family; the anchors are then fitted to the boxes.
SMALL_BOX_TARGET = dict(retinanet=16, yolov5=12)
# RetinaNet's smallest anchor (stride 8 x octave_base_scale) is set to this many times the
# 10th-percentile box (a centred box overlaps an anchor 1.3 times its side with IoU 0.59), within
# octave_base_scale 2..4 (4: mmdet's default, a 32-px smallest anchor).
ANCHOR_OVER_SMALL_BOX = 1.3
MIN_SIZE, MAX_SIZE = 128, dict(cpu=640, cuda=1024)
DATASET_TYPES = ('CocoDataset', 'mgd.NEUDETDataset', 'NEUDETDataset', 'mmdet.CocoDataset')


@dataclass
class DataSpec:
    """What the experiment knows of the data, and what it chose.

    Attributes:
        data_root: the COCO layout (``images/``, ``annotations/``).
        classes: the class names, in the order of the categories.
        splits: the evaluated splits, ``('val', 'test')`` or ``('val',)``.
        size: the input size (square resize target; images keep their aspect ratio).
        ratios: RetinaNet anchor aspect ratios (h / w).
        anchor_base: RetinaNet's ``octave_base_scale`` (the smallest anchor is 8 times it).
        yolo_anchors: YOLOv5 anchor sizes, 3 per level (P3, P4, P5), in input pixels.
        notes: lines that say what was found and chosen, and why.
    """

    data_root: str
    classes: tuple[str, ...]
    splits: tuple[str, ...]
    size: int = 0
    ratios: list[float] = field(default_factory=list)
    anchor_base: float = 0.0
    yolo_anchors: list[list[tuple[int, int]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_coco_layout(path: str) -> bool:
    return all(
        osp.isfile(osp.join(path, 'annotations', f'instances_{s}.json')) for s in ('train', 'val')
    )


def prepare_data(
    path: str, data_root: str, classes: Sequence[str] | None, split_file: str | None
) -> DataSpec:
    """The data in the COCO layout: ``path`` itself, or its VOC folder converted into
    ``data_root`` (every time: the conversion is deterministic). Without ``classes``, a VOC
    folder's are the ``<name>``s of its boxes, alphabetically; a COCO file's, its categories.

    Raises:
        VOCError, FileNotFoundError, NotWritableError: as ``convert_voc``, with nothing written.
    """
    from mgd.datasets.converters.voc import class_names
    from mgd.datasets.converters.voc_convert import convert_voc, summary_table
    from mgd.datasets.converters.voc_split import given_split

    if is_coco_layout(path):
        annotations = osp.join(path, 'annotations')
        found = coco_classes(osp.join(annotations, 'instances_train.json'))
        test = osp.isfile(osp.join(annotations, 'instances_test.json'))
        spec = DataSpec(osp.abspath(path), tuple(classes or found), ('val', 'test')[: 1 + test])
        spec.notes.append(
            f'{path}: a COCO layout, used as it is'
            + ('' if test else ' (no test split: evaluate on val)')
        )
        return spec
    if not classes:  # only then are the XML files read twice (here and by the converter)
        classes = sorted(class_names(path))
        spec_note = f"classes (the boxes' <name>s, alphabetically; --classes sets them): {classes}"
    else:
        spec_note = f'classes (--classes): {list(classes)}'
    result = convert_voc(
        path, data_root, classes, split=given_split(path, split_file), progress=False
    )
    test = bool(result.cocos['test']['images'])
    spec = DataSpec(osp.abspath(data_root), tuple(classes), ('val', 'test')[: 1 + test])
    spec.notes += [
        f'{path}: a VOC folder, converted into {data_root}',
        spec_note,
        summary_table(result),
    ]
    return spec


def coco_classes(ann_file: str) -> tuple[str, ...]:
    """The category names of a COCO file, in id order (mmdet's label order)."""
    with open(ann_file) as f:
        categories = json.load(f).get('categories', [])
    return tuple(c['name'] for c in sorted(categories, key=lambda c: c['id']))


def box_statistics(ann_file: str) -> dict:
    """Image sizes and box sides (``sqrt(w h)``) and shapes (``h / w``) of a COCO file's
    ordinary boxes (ignored regions, ``iscrowd: 1``, left out)."""
    with open(ann_file) as f:
        coco = json.load(f)
    boxes = np.array(
        [a['bbox'][2:] for a in coco['annotations'] if not a.get('iscrowd')], dtype=float
    ).reshape(-1, 2)
    boxes = boxes[(boxes > 0).all(axis=1)]
    if not len(boxes):
        raise ConfigError(f'{ann_file}: has no box (every image without boxes, or all iscrowd)')
    sizes = np.array([(i['width'], i['height']) for i in coco['images']], dtype=float)
    return dict(
        images=len(coco['images']),
        boxes=boxes,
        image_size=np.median(sizes, axis=0),
        per_image=len(boxes) / max(len(coco['images']), 1),
    )


def choose_size(stats: dict, family: str, device: str, forced: int | None) -> tuple[int, str]:
    """The square input size and why (see ``SMALL_BOX_TARGET``): the 10th-percentile box side
    is scaled to the family's target, the long side rounded to a multiple of 32 and kept within
    ``MIN_SIZE`` and ``MAX_SIZE[device]``."""
    side = np.sqrt(stats['boxes'].prod(axis=1))
    small = float(np.percentile(side, 10))
    long_side = float(max(stats['image_size']))
    if forced:
        return forced, f'input size {forced} px (--image-size)'
    target = SMALL_BOX_TARGET[family]
    wanted = long_side * target / small
    limit = MAX_SIZE[device]
    size = int(min(max(32 * round(wanted / 32), MIN_SIZE), limit))
    reason = (
        f'input size {size} px (the long side; images are {long_side:.0f} px, median): the '
        f'10th-percentile box side, {small:.1f} px, becomes {small * size / long_side:.1f} px '
        f'(aim: {target} px for {family})'
    )
    if wanted > limit:
        reason += (
            f'; {32 * round(wanted / 32)} px would reach the aim, above the {limit}-px budget '
            f'of --device {device}: small boxes will be hard (--image-size N overrides)'
        )
    return size, reason


def retinanet_ratios(boxes: np.ndarray) -> list[float]:
    """Three anchor aspect ratios (h / w): the 1/6, 1/2 and 5/6 quantiles of the boxes', taken
    in log space (so that 1/2 and 2 average to 1)."""
    log_ratio = np.log(boxes[:, 1] / boxes[:, 0])
    return [round(float(np.exp(q)), 2) for q in np.quantile(log_ratio, [1 / 6, 1 / 2, 5 / 6])]


def kmeans_anchors(wh: np.ndarray, k: int = 9, iterations: int = 100) -> np.ndarray:
    """``k`` anchor sizes for boxes ``wh`` (N x 2): k-means with ``1 - IoU`` of boxes aligned at
    a corner, started from the area quantiles; sorted by area."""
    area = wh.prod(axis=1)
    order = np.argsort(area)
    centres = wh[order[((np.arange(k) + 0.5) / k * len(wh)).astype(int)]].copy()
    for _ in range(iterations):
        inter = np.minimum(wh[:, None], centres[None]).prod(axis=2)
        iou = inter / (area[:, None] + centres.prod(axis=1)[None] - inter)
        nearest = iou.argmax(axis=1)
        updated = np.array(
            [
                np.median(wh[nearest == j], axis=0) if (nearest == j).any() else centres[j]
                for j in range(k)
            ]
        )
        if np.allclose(updated, centres):
            break
        centres = updated
    return centres[np.argsort(centres.prod(axis=1))]


def choose_input(
    spec: DataSpec, train_file: str, family: str, device: str, forced: int | None
) -> None:
    """Sets ``spec``'s size and the anchors of ``family`` (RetinaNet: ratios and base scale;
    YOLOv5: nine sizes), with the notes that explain them."""
    stats = box_statistics(train_file)
    boxes = stats['boxes']
    side = np.sqrt(boxes.prod(axis=1))
    width, height = stats['image_size']
    spec.notes.append(
        f'training set: {stats["images"]} images, {len(boxes)} boxes ({stats["per_image"]:.1f} '
        f'per image); images {width:.0f}x{height:.0f} px (median); box side sqrt(w*h) '
        f'{np.percentile(side, 10):.1f} / {np.median(side):.1f} / {np.percentile(side, 90):.1f} '
        'px (10th percentile / median / 90th)'
    )
    spec.size, reason = choose_size(stats, family, device, forced)
    spec.notes.append(reason)
    scale = spec.size / max(width, height)
    if family == 'retinanet':
        spec.ratios = retinanet_ratios(boxes)
        small = float(np.percentile(side, 10)) * scale
        spec.anchor_base = round(min(max(ANCHOR_OVER_SMALL_BOX * small / 8, 2.0), 4.0), 1)
        spec.notes.append(
            f"anchors: aspect ratios (h/w) {spec.ratios} (the boxes' 1/6, 1/2, 5/6 quantiles); "
            f'octave_base_scale {spec.anchor_base:g}, so the smallest anchor is '
            f'{8 * spec.anchor_base:.0f} px (the 10th-percentile box: {small:.1f} px)'
        )
    else:
        spec.yolo_anchors = [
            [(max(int(round(w)), 1), max(int(round(h)), 1)) for w, h in level]
            for level in kmeans_anchors(boxes * scale).reshape(3, 3, 2)
        ]
        spec.notes.append(
            f'anchors (w, h) per level P3/P4/P5: {spec.yolo_anchors} (k-means of the boxes at '
            f'{spec.size} px)'
        )


def adapt(node: object, spec: DataSpec, teacher_config: str | None) -> None:
    """Adapts a config dict (in place, recursively) to ``spec``: every head's ``num_classes``,
    every ``Resize``, every detection dataset (``CocoDataset`` with the classes and data root),
    the anchors, YOLOv5's class and objectness gains (mmyolo's scaling for the classes and the
    input size) in the head and in the output-distillation loss, and the teacher's config."""
    if isinstance(node, dict):
        kind = node.get('type')
        if 'num_classes' in node:
            node['num_classes'] = len(spec.classes)
        if kind == 'Resize' and 'scale' in node:
            node['scale'] = (spec.size, spec.size)
        if kind in DATASET_TYPES:
            node.update(
                type='CocoDataset',
                data_root=spec.data_root.rstrip('/') + '/',
                metainfo=dict(classes=spec.classes),
            )
        if kind == 'AnchorGenerator' and spec.ratios:
            node.update(ratios=list(spec.ratios), octave_base_scale=spec.anchor_base)
        if kind == 'mmdet.YOLOAnchorGenerator' and spec.yolo_anchors:
            node['base_sizes'] = [list(level) for level in spec.yolo_anchors]
        cls_gain, obj_gain = 0.5 * len(spec.classes) / 80, (spec.size / 640) ** 2
        if kind == 'YOLOv5Head':
            node['loss_cls']['loss_weight'] = cls_gain
            node['loss_obj']['loss_weight'] = obj_gain
        if kind == 'mmrazor.YOLOv5OutputKDLoss':
            node.update(cls_gain=cls_gain, obj_gain=obj_gain)
        if 'cfg_path' in node and teacher_config:
            node['cfg_path'] = teacher_config
        for value in node.values():
            adapt(value, spec, teacher_config)
    elif isinstance(node, list | tuple):
        for value in node:
            adapt(value, spec, teacher_config)


def write_configs(
    configs: dict[str, str], spec: DataSpec, out_dir: str, root: str, header: Sequence[str]
) -> dict[str, str]:
    """Writes each of ``configs`` (name -> repository config; ``teacher`` first) adapted to
    ``spec`` as ``out_dir/NAME.py``; returns name -> written path.

    Raises:
        ValueError: ``out_dir`` holds a config of the same name with other content: the runs
            there were trained with other settings (their checkpoints would be taken as done).
    """
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    for name, path in configs.items():
        data = Config.fromfile(osp.join(root, path)).to_dict()
        out = osp.join(out_dir, f'{name}.py')
        adapt(data, spec, osp.join(out_dir, 'teacher.py'))
        data.pop('data_root', None)  # read when the file was read: the datasets carry it
        lines = [f'# {path}, adapted by tools/demo.py --data to:', *(f'#   {h}' for h in header)]
        with tempfile.TemporaryDirectory() as tmp:
            Config(data).dump(osp.join(tmp, 'config.py'))
            with open(osp.join(tmp, 'config.py')) as f:
                text = '\n'.join(lines) + '\n' + f.read()
        if osp.isfile(out):
            with open(out) as f:
                if f.read() != text:
                    raise ConfigError(
                        f'{out} differs from the config this command makes now (other data, '
                        'classes, --image-size or recipe): the runs in its work dir were trained '
                        'with other settings. Pass another --work-dir, or delete that one.'
                    )
        else:
            with open(out, 'w') as f:
                f.write(text)
        written[name] = out
    return written
