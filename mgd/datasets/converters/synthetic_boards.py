"""A synthetic Pascal-VOC data set that is not NEU-DET: small defects on circuit-board-like
images, with its own train/test split, for ``tools/demo.py --data`` (tests, documentation).

Every image is 320x240 px, colour: a green board with noise, copper tracks and pads (drawn
like the defects but never labelled), and 4-10 defects of three classes, mixed in one image:

=========  =========================================  ======================
class      drawn as                                   box sides
=========  =========================================  ======================
hole       a dark disc with a lighter rim              7-15 px, square
stain      a yellow-brown soft blob, wider than high   12-26 x 8-16 px
crack      a thin dark line, within 30 degrees of      6-12 x 14-30 px (tall)
           the vertical
=========  =========================================  ======================

So most boxes are COCO-small, several per image, on images that are neither square nor
200 px. The layout is VOC's, with the split as VOC ships it (no val list: it is carved from
train by the converter)::

    OUT_DIR/JPEGImages/board_0000.jpg ...
    OUT_DIR/Annotations/board_0000.xml ...         (1-based inclusive corners)
    OUT_DIR/ImageSets/Main/{train,test}.txt        (every 4th image is a test image)

The output is a pure function of the seed (image ``i`` is drawn from ``(seed, i)``).
"""

from __future__ import annotations

import os
import os.path as osp

import cv2
import numpy as np

BOARD_CLASSES = ('hole', 'stain', 'crack')
WIDTH, HEIGHT = 320, 240
JPEG_QUALITY = 90
TEST_EVERY = 4

Box = tuple[int, int, int, int]  # inclusive pixel indices x0, y0, x1, y1


def _board(rng: np.random.Generator) -> np.ndarray:
    img = np.empty((HEIGHT, WIDTH, 3), np.float32)
    img[:] = (40, 95, 35) + rng.normal(0, 6, 3)  # BGR green
    img += rng.normal(0, 5, (HEIGHT, WIDTH, 1))
    for _ in range(int(rng.integers(3, 7))):  # copper tracks, horizontal or vertical
        colour = (70, 140, 190)
        if rng.random() < 0.5:
            y = int(rng.integers(0, HEIGHT))
            cv2.line(img, (0, y), (WIDTH - 1, y), colour, int(rng.integers(2, 5)))
        else:
            x = int(rng.integers(0, WIDTH))
            cv2.line(img, (x, 0), (x, HEIGHT - 1), colour, int(rng.integers(2, 5)))
    for _ in range(int(rng.integers(2, 6))):  # pads: bright squares
        x, y = (int(v) for v in rng.integers(0, [WIDTH - 12, HEIGHT - 12]))
        cv2.rectangle(img, (x, y), (x + 10, y + 10), (150, 190, 210), -1)
    return img


def _draw(rng: np.random.Generator, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A defect patch: its colour delta (h x w x 3) and where it is visible (h x w)."""
    if name == 'hole':
        d = int(rng.integers(7, 16))
        mask = np.zeros((d, d), np.uint8)
        cv2.circle(mask, (d // 2, d // 2), d // 2, 1, -1)
        delta = np.where(mask[..., None] > 0, -35.0, 0.0) * np.ones(3)
        inner = np.zeros_like(mask)
        cv2.circle(inner, (d // 2, d // 2), max(d // 2 - 2, 1), 1, -1)
        delta[inner > 0] = -80.0
    elif name == 'stain':
        w, h = int(rng.integers(12, 27)), int(rng.integers(8, 17))
        mask = np.zeros((h, w), np.uint8)
        cv2.ellipse(mask, (w // 2, h // 2), (w // 2, h // 2), 0, 0, 360, 1, -1)
        delta = np.where(mask[..., None] > 0, 1.0, 0.0) * np.array([-20.0, 40.0, 90.0])
    else:  # crack
        w, h = int(rng.integers(6, 13)), int(rng.integers(14, 31))
        mask = np.zeros((h, w), np.uint8)
        x0, x1 = (int(v) for v in rng.integers(0, w, 2))
        cv2.line(mask, (x0, 0), (x1, h - 1), 1, 1 + int(rng.random() < 0.5))
        delta = np.where(mask[..., None] > 0, -70.0, 0.0) * np.ones(3)
    return delta, mask > 0


def draw_board(rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[str, Box]]]:
    """One image (uint8 BGR) and its labelled tight boxes."""
    img = _board(rng)
    wanted = int(rng.integers(4, 11))
    objects: list[tuple[str, Box]] = []
    for _ in range(8 * wanted):
        if len(objects) == wanted:
            break
        name = BOARD_CLASSES[int(rng.integers(len(BOARD_CLASSES)))]
        delta, visible = _draw(rng, name)
        h, w = visible.shape
        x, y = (int(v) for v in rng.integers(0, [WIDTH - w + 1, HEIGHT - h + 1]))
        box = (x, y, x + w - 1, y + h - 1)
        if any(
            box[0] <= b[2] + 2 and b[0] <= box[2] + 2 and box[1] <= b[3] + 2 and b[1] <= box[3] + 2
            for _, b in objects
        ):
            continue
        img[y : y + h, x : x + w] += delta
        ys, xs = np.nonzero(visible)
        objects.append((name, (x + xs.min(), y + ys.min(), x + xs.max(), y + ys.max())))
    return np.clip(np.round(img), 0, 255).astype(np.uint8), objects


def voc_xml(file_name: str, objects: list[tuple[str, Box]]) -> str:
    parts = [
        '<annotation>',
        f'  <filename>{file_name}</filename>',
        f'  <size><width>{WIDTH}</width><height>{HEIGHT}</height><depth>3</depth></size>',
    ]
    for name, (x0, y0, x1, y1) in objects:
        parts += [
            '  <object>',
            f'    <name>{name}</name>',
            '    <difficult>0</difficult>',
            f'    <bndbox><xmin>{x0 + 1}</xmin><ymin>{y0 + 1}</ymin>'
            f'<xmax>{x1 + 1}</xmax><ymax>{y1 + 1}</ymax></bndbox>',
            '  </object>',
        ]
    return '\n'.join([*parts, '</annotation>']) + '\n'


def make_boards(out_dir: str, num_images: int = 240, seed: int = 0) -> dict[str, int]:
    """Writes the data set into ``out_dir`` (existing files of the same names are replaced).

    Returns:
        ``{'train': images, 'test': images, 'boxes': boxes}``.
    """
    folders = {k: osp.join(out_dir, k) for k in ('JPEGImages', 'Annotations', 'ImageSets/Main')}
    for folder in folders.values():
        os.makedirs(folder, exist_ok=True)
    lists: dict[str, list[str]] = {'train': [], 'test': []}
    boxes = 0
    for index in range(num_images):
        stem = f'board_{index:04d}'
        img, objects = draw_board(np.random.default_rng([seed, index]))
        ok, encoded = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        assert ok, stem
        with open(osp.join(folders['JPEGImages'], f'{stem}.jpg'), 'wb') as f:
            f.write(encoded.tobytes())
        with open(osp.join(folders['Annotations'], f'{stem}.xml'), 'w') as f:
            f.write(voc_xml(f'{stem}.jpg', objects))
        lists['test' if index % TEST_EVERY == TEST_EVERY - 1 else 'train'].append(stem)
        boxes += len(objects)
    for split, stems in lists.items():
        with open(osp.join(folders['ImageSets/Main'], f'{split}.txt'), 'w') as f:
            f.write(''.join(s + '\n' for s in stems))
    return dict(train=len(lists['train']), test=len(lists['test']), boxes=boxes)
