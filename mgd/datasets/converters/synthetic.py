"""A small synthetic NEU-DET look-alike, so that the demo and the tests need no download.

Every image is 200x200, grey on a steel-like background (noise plus horizontal rolling
streaks), saved as a 3-channel JPEG. Like NEU-DET, an image shows one defect class, here with
1-3 instances (``patches``: 1-2). The six kinds are drawn to be told apart by shape and
contrast, so that a tiny detector learns them on a CPU in minutes:

=================  ===========================================  =========================
class              drawn as                                     tight box, COCO bucket
=================  ===========================================  =========================
crazing            network of thin dark cracks in a patch       40-90 px sides: medium
inclusion          one dark elongated blob, roughly horizontal  14-50 x 6-14 px: small
patches            large darker irregular soft-edged region     40-140 px sides: medium,
                                                                about a third large
pitted_surface     cluster of small dark dots                   10-60 px sides: small or
                                                                medium, about half each
rolled-in_scale    dark and light flakes in a horizontal band   30-120 x 9-40 px: medium,
                                                                about 1 in 4 small
scratches          long thin bright or dark line, within 40     8-115 x 50-170 px: mostly
                   degrees of the vertical                      medium, some small/large
=================  ===========================================  =========================

COCO buckets: small < 32^2 px area <= medium < 96^2 <= large. With the defaults about a third
of the boxes are small, three fifths medium and only a few percent large, so the demo's AP_L
rests on few boxes (on 200x200 images a large box covers a quarter of the image).

The output is a pure function of the seed: each image is drawn from its own ``numpy``
generator seeded with ``(seed, split, index)``, so a re-run writes byte-identical JPEGs (fixed
encoder quality) and JSON, and image ``i`` of a split does not depend on how many images are
asked for.

The layout is the NEU-DET converter's, plus per-pixel labels for segmentation (0 background,
1-6 the classes in ``NEU_DET_CLASSES`` order, where the defect is visible)::

    OUT_DIR/images/{train,val}_0000.jpg ...
    OUT_DIR/masks/{train,val}_0000.png ...
    OUT_DIR/annotations/instances_{train,val}.json
    OUT_DIR/annotations/seg_{train,val}.txt      (image names, for mmseg's ann_file)
"""

from __future__ import annotations

import math
import os
import os.path as osp
from collections import Counter
from collections.abc import Callable

import cv2
import numpy as np

from mgd.datasets.converters.coco import coco_categories, dump_json, size_bucket
from mgd.datasets.metainfo import NEU_DET_CLASSES
from mgd.utils.fileio import check_writable_folder, write_folder_atomically

IMAGE_SIZE = 200
JPEG_QUALITY = 90
SPLITS = ('train', 'val')
MAX_INSTANCES = {'patches': 2}  # other classes: 3

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (pixel indices, inclusive)


def _background(rng: np.random.Generator) -> np.ndarray:
    """Steel-grey texture: base level, row-wise rolling streaks, fine noise (float32)."""
    size = IMAGE_SIZE
    img = np.full((size, size), rng.uniform(115, 150), np.float32)
    rows = np.convolve(rng.normal(0, 7, size + 4), np.ones(5) / 5, mode='valid')
    img += rows[:, None].astype(np.float32)
    streaks = cv2.blur(rng.normal(0, 1, (size, size)).astype(np.float32), (31, 1))
    img += streaks * 25  # long horizontal grain (blurring along x only)
    img += rng.normal(0, 4, (size, size)).astype(np.float32)
    return img


def _random_walk(
    rng: np.random.Generator, start: np.ndarray, steps: int, step_len: tuple, turn: float
) -> np.ndarray:
    """A polyline from ``start``: ``steps`` segments, direction turning by up to ``turn``."""
    angle = rng.uniform(0, 2 * math.pi)
    points = [start]
    for _ in range(steps):
        angle += rng.uniform(-turn, turn)
        length = rng.uniform(*step_len)
        points.append(points[-1] + length * np.array([math.cos(angle), math.sin(angle)]))
    return np.array(points)


def _draw_crazing(rng, w, h):
    mask = np.zeros((h, w), np.uint8)
    for _ in range(rng.integers(8, 17)):
        start = rng.uniform([0, 0], [w, h])
        walk = _random_walk(rng, start, int(rng.integers(4, 9)), (5, 12), 1.0)
        thickness = 2 if rng.random() < 0.3 else 1
        cv2.polylines(mask, [np.round(walk).astype(np.int32)], False, 1, thickness)
    return -mask.astype(np.float32) * rng.uniform(55, 85)


def _draw_inclusion(rng, w, h):
    mask = np.zeros((h, w), np.uint8)
    angle = rng.uniform(-15, 15)
    axes = (max(w // 2 - 2, 2), max(h // 2 - 1, 1))
    cv2.ellipse(mask, (w // 2, h // 2), axes, angle, 0, 360, 1, -1)
    shade = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0)
    return -shade * rng.uniform(60, 90)


def _draw_patches(rng, w, h):
    mask = np.zeros((h, w), np.uint8)
    for _ in range(rng.integers(3, 7)):
        centre = rng.uniform([0.3 * w, 0.3 * h], [0.7 * w, 0.7 * h]).astype(int)
        axes = rng.uniform([0.15 * w, 0.15 * h], [0.35 * w, 0.35 * h]).astype(int)
        cv2.ellipse(
            mask,
            tuple(int(c) for c in centre),
            tuple(int(a) for a in axes),
            rng.uniform(0, 180),
            0,
            360,
            1,
            -1,
        )
    shade = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 3)
    mottle = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 4)
    mottle /= mottle.std() + 1e-6
    return -shade * (rng.uniform(35, 55) + 8 * mottle)


def _draw_pitted(rng, w, h):
    delta = np.zeros((h, w), np.float32)
    for _ in range(rng.integers(6, 6 + (w * h) // 60)):
        centre = tuple(int(c) for c in rng.uniform([2, 2], [w - 2, h - 2]))
        cv2.circle(delta, centre, int(rng.integers(1, 3)), float(-rng.uniform(50, 90)), -1)
    return delta


def _draw_rolled_in_scale(rng, w, h):
    delta = np.zeros((h, w), np.float32)
    for _ in range(rng.integers(10, 10 + w // 4)):
        centre = tuple(int(c) for c in rng.uniform([4, 3], [w - 4, h - 3]))
        axes = (int(rng.integers(2, 7)), int(rng.integers(1, 3)))
        value = -rng.uniform(45, 70) if rng.random() < 0.6 else rng.uniform(35, 55)
        cv2.ellipse(delta, centre, axes, rng.uniform(-10, 10), 0, 360, float(value), -1)
    return delta


def _draw_scratch(rng, w, h):
    delta = np.zeros((h, w), np.float32)
    # the segment joins two opposite corners of the box, with a slight bend in the middle
    flip = rng.random() < 0.5
    start = np.array([0, h - 1] if flip else [0, 0], float)
    end = np.array([w - 1, 0] if flip else [w - 1, h - 1], float)
    middle = (start + end) / 2 + rng.uniform(-2, 2, 2)
    points = np.round(np.stack([start, middle, end])).astype(np.int32)
    value = rng.uniform(55, 80) * (1 if rng.random() < 0.5 else -1)
    cv2.polylines(delta, [points], False, float(value), int(rng.integers(2, 4)))
    return delta


def _scratch_size(rng):
    # within 40 degrees of the vertical, as most NEU-DET scratches run across the rolling
    length, angle = rng.uniform(60, 180), math.radians(rng.uniform(50, 130))
    w = max(int(abs(length * math.cos(angle))), 8)
    h = max(int(abs(length * math.sin(angle))), 8)
    return min(w, IMAGE_SIZE), min(h, IMAGE_SIZE)


# class -> (draws a defect into a (h, w) intensity change, picks its (w, h))
DEFECTS: dict[str, tuple[Callable, Callable]] = {
    'crazing': (_draw_crazing, lambda rng: tuple(rng.integers(40, 91, 2))),
    'inclusion': (_draw_inclusion, lambda rng: (rng.integers(16, 51), rng.integers(6, 15))),
    'patches': (_draw_patches, lambda rng: tuple(rng.integers(70, 151, 2))),
    'pitted_surface': (_draw_pitted, lambda rng: tuple(rng.integers(14, 61, 2))),
    'rolled-in_scale': (
        _draw_rolled_in_scale,
        lambda rng: (rng.integers(40, 121), rng.integers(14, 41)),
    ),
    'scratches': (_draw_scratch, _scratch_size),
}


def _overlaps(box: Box, boxes: list[Box]) -> bool:
    x0, y0, x1, y1 = box
    return any(x0 <= b[2] and b[0] <= x1 and y0 <= b[3] and b[1] <= y1 for b in boxes)


def draw_image(
    rng: np.random.Generator, class_name: str, labels: np.ndarray | None = None
) -> tuple[np.ndarray, list[Box]]:
    """Draws one image with 1-3 defects of ``class_name``.

    Args:
        rng: the image's random generator.
        class_name: one of ``NEU_DET_CLASSES``.
        labels: an H x W uint8 array; where a defect is visible (the pixels its box is tight
            around) it gets the class's index + 1 (0 stays background). Drawing is the same
            with or without it.

    Returns:
        The image (uint8, H x W x 3, grey) and the tight box of each defect,
        as inclusive pixel indices ``(x0, y0, x1, y1)``.
    """
    draw, pick_size = DEFECTS[class_name]
    img = _background(rng)
    wanted = int(rng.integers(1, MAX_INSTANCES.get(class_name, 3) + 1))
    boxes: list[Box] = []
    for _ in range(8 * wanted):  # defects may not touch: retry a few placements
        if len(boxes) == wanted:
            break
        w, h = (int(v) for v in pick_size(rng))
        x, y = (int(v) for v in rng.integers(0, [IMAGE_SIZE - w + 1, IMAGE_SIZE - h + 1]))
        if _overlaps((x, y, x + w - 1, y + h - 1), boxes):
            continue
        delta = draw(rng, w, h)
        ys, xs = np.nonzero(np.abs(delta) >= 8)  # where the defect is visible
        if len(xs) == 0:
            continue
        img[y : y + h, x : x + w] += delta
        if labels is not None:
            labels[y : y + h, x : x + w][np.abs(delta) >= 8] = NEU_DET_CLASSES.index(class_name) + 1
        boxes.append((x + int(xs.min()), y + int(ys.min()), x + int(xs.max()), y + int(ys.max())))
    grey = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), boxes


def _image_class(seed: int, split_code: int, index: int) -> str:
    """Balanced classes: each block of 6 consecutive images holds every class once."""
    block, position = divmod(index, len(NEU_DET_CLASSES))
    order = np.random.default_rng([seed, split_code, block, 1]).permutation(len(NEU_DET_CLASSES))
    return NEU_DET_CLASSES[order[position]]


def make_split(out_dir: str, split: str, num_images: int, seed: int) -> dict:
    """Draws one split, writes its JPEGs and returns its COCO dict (not yet written)."""
    split_code = SPLITS.index(split)
    coco = dict(images=[], annotations=[], categories=coco_categories())
    for index in range(num_images):
        class_name = _image_class(seed, split_code, index)
        rng = np.random.default_rng([seed, split_code, index])
        labels = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
        img, boxes = draw_image(rng, class_name, labels)
        file_name = f'{split}_{index:04d}.jpg'
        outputs = (
            ('images', file_name, img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]),
            ('masks', file_name.replace('.jpg', '.png'), labels, []),  # PNG: lossless labels
        )
        for folder, name, array, params in outputs:
            ok, encoded = cv2.imencode(osp.splitext(name)[1], array, params)
            assert ok, name
            with open(osp.join(out_dir, folder, name), 'wb') as f:
                f.write(encoded.tobytes())
        image_id = index + 1
        coco['images'].append(
            dict(id=image_id, file_name=file_name, width=IMAGE_SIZE, height=IMAGE_SIZE)
        )
        for x0, y0, x1, y1 in boxes:
            w, h = x1 - x0 + 1, y1 - y0 + 1  # inclusive pixel indices -> pixel-edge box
            coco['annotations'].append(
                dict(
                    id=len(coco['annotations']) + 1,
                    image_id=image_id,
                    category_id=NEU_DET_CLASSES.index(class_name) + 1,
                    bbox=[x0, y0, w, h],
                    area=w * h,
                    iscrowd=0,
                )
            )
    return coco


def make_demo_data(
    out_dir: str, num_train: int = 300, num_val: int = 100, seed: int = 0
) -> dict[str, dict]:
    """Writes the synthetic data set to ``out_dir`` (see the module docstring for the layout).

    Args:
        out_dir: output folder; created if needed, existing images with the same names are
            overwritten, ``annotations/`` is replaced as a whole (its other files are kept).
        num_train: number of training images.
        num_val: number of validation images.
        seed: the seed everything is drawn from.

    Returns:
        split name -> its COCO dict, as written.

    Raises:
        NotWritableError: ``out_dir`` (or its ``images/``, ``annotations/``) cannot be written;
            checked before anything is drawn or written.
    """
    for path in (out_dir, *(osp.join(out_dir, f) for f in ('images', 'masks', 'annotations'))):
        check_writable_folder(path, 'out_dir')
    os.makedirs(osp.join(out_dir, 'images'), exist_ok=True)
    os.makedirs(osp.join(out_dir, 'masks'), exist_ok=True)
    cocos = {
        split: make_split(out_dir, split, n, seed) for split, n in zip(SPLITS, (num_train, num_val))
    }
    # the segmentation splits: one image name (no extension) a line, as mmseg's ann_file
    seg_splits = {
        f'seg_{split}.txt': ''.join(img['file_name'][:-4] + '\n' for img in coco['images'])
        for split, coco in cocos.items()
    }
    write_folder_atomically(  # the files as one unit, see write_folder_atomically
        osp.join(out_dir, 'annotations'),
        {**{f'instances_{s}.json': dump_json(c) for s, c in cocos.items()}, **seg_splits},
    )
    return cocos


def summarize(cocos: dict[str, dict]) -> str:
    """One line: images and boxes per split, and boxes per COCO size bucket."""
    parts = [
        f'{split} {len(c["images"])} images / {len(c["annotations"])} boxes'
        for split, c in cocos.items()
    ]
    buckets = Counter(size_bucket(a['area']) for c in cocos.values() for a in c['annotations'])
    sizes = ', '.join(f'{b} {buckets[b]}' for b in ('small', 'medium', 'large'))
    return f'{"; ".join(parts)} (box sizes: {sizes})'
