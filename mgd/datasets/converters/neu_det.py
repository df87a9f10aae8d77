"""NEU-DET (Pascal-VOC XML + JPEG) to COCO, split 7:2:1 per class.

Input, as distributed (folder names also in lower case)::

    NEU_DET_ROOT/ANNOTATIONS/crazing_1.xml ...
    NEU_DET_ROOT/IMAGES/crazing_1.jpg ...        (sub-folders are allowed)

Output::

    OUT_DIR/images/...                            (links to, or copies of, the images)
    OUT_DIR/annotations/instances_{train,val,test}.json

Box convention: VOC ``xmin, ymin, xmax, ymax`` are read as 1-based, inclusive pixel indices,
so the COCO box is ``[xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1]``: a box
``1, 1, 200, 200`` covers the whole 200x200 image. PaddleDetection's ``x2coco.py``, with which
the reference NEU-DET study prepared its data, converts the same way. (mmdet's ``VOCDataset``
and its ``pascal_voc.py`` subtract 1 from all four values, which makes every box one pixel
narrower and shorter.) Boxes are clipped to the image; a box with no area left is dropped and
counted. ``difficult`` is ignored (NEU-DET does not use it).

Split: the class of an image is its file-name prefix (``rolled-in_scale_12`` ->
``rolled-in_scale``); per class, with ``n`` images in a seeded random order, the first
``round(0.7 n)`` go to train, the next ``round(0.2 n)`` to val, the rest to test (rounding half
up: 300 -> 210/60/30). Image and annotation ids are unique across the three files.
"""

from __future__ import annotations

import math
import os
import os.path as osp
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from mmengine.utils import scandir, track_iter_progress
from PIL import Image
from terminaltables import AsciiTable

from mgd.datasets.converters.coco import coco_categories, dump_json
from mgd.datasets.metainfo import NEU_DET_CLASSES
from mgd.utils.fileio import check_writable_folder, restore_folder, write_folder_atomically

SPLITS = ('train', 'val', 'test')
SPLIT_FRACTIONS = (0.7, 0.2)  # train, val; test gets the rest
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
_NUMBERED = re.compile(r'^(?P<prefix>.+?)_(?P<number>\d+)$')


class NEUDETError(ValueError):
    """A problem with one file of the data set; the message starts with the file's path."""


@dataclass
class ImageRecord:
    """One annotated image.

    Attributes:
        image_path: the image file.
        file_name: its path relative to the images folder (the COCO ``file_name``).
        class_name: the class of the image (its file-name prefix), used for the split.
        number: the number after the prefix, for a natural sort order.
        width: image width.
        height: image height.
        boxes: COCO ``[x, y, w, h]`` boxes.
        category_ids: COCO category id of each box.
    """

    image_path: str
    file_name: str
    class_name: str
    number: int
    width: int
    height: int
    boxes: list[list[float]] = field(default_factory=list)
    category_ids: list[int] = field(default_factory=list)


@dataclass
class ConversionResult:
    """What ``convert`` wrote, and what it changed on the way.

    Attributes:
        cocos: split name -> COCO dict, as written.
        clipped: boxes clipped to their image.
        dropped: one description per degenerate box that was dropped.
        images_without_xml: image files that no XML refers to (left out).
    """

    cocos: dict[str, dict]
    clipped: int = 0
    dropped: list[str] = field(default_factory=list)
    images_without_xml: list[str] = field(default_factory=list)


def find_folder(root: str, name: str) -> str:
    """``root/NAME``, ``root/name`` or ``root/Name``, whichever exists."""
    for candidate in (name.upper(), name.lower(), name.capitalize()):
        path = osp.join(root, candidate)
        if osp.isdir(path):
            return path
    raise FileNotFoundError(f'{root}: has no {name.upper()}/ (or {name.lower()}/) folder')


def class_of(stem: str, path: str) -> tuple[str, int]:
    """The class and the number of a file stem such as ``pitted_surface_3``."""
    match = _NUMBERED.match(stem)
    if not match or match['prefix'] not in NEU_DET_CLASSES:
        raise NEUDETError(
            f'{path}: the file name does not start with a NEU-DET class and end '
            f'with _<number> (classes: {", ".join(NEU_DET_CLASSES)})'
        )
    return match['prefix'], int(match['number'])


def index_images(images_dir: str) -> dict[str, str]:
    """Image stem -> path, for every image under ``images_dir`` (sub-folders included)."""
    index: dict[str, str] = {}
    found = scandir(images_dir, suffix=IMAGE_SUFFIXES, recursive=True, case_sensitive=False)
    for relative in sorted(found):
        path = osp.join(images_dir, relative)
        stem = osp.splitext(osp.basename(relative))[0]
        if stem in index:
            raise NEUDETError(f'{path}: another image has the same name: {index[stem]}')
        index[stem] = path
    return index


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(float(value), 3)


def _coordinate(bndbox: ET.Element, tag: str, xml_path: str) -> float:
    text = bndbox.findtext(tag)
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise NEUDETError(f'{xml_path}: <bndbox> has no numeric <{tag}> (got {text!r})') from None
    if not math.isfinite(value):
        raise NEUDETError(f'{xml_path}: <bndbox> <{tag}> is {text!r}')
    return value


def _image_size(root: ET.Element, image_path: str) -> tuple[int, int]:
    """Width and height from ``<size>``, or from the image file when ``<size>`` lacks them."""
    try:
        width = int(float(root.findtext('size/width')))
        height = int(float(root.findtext('size/height')))
        if width > 0 and height > 0:
            return width, height
    except (TypeError, ValueError):
        pass
    with Image.open(image_path) as img:
        return img.size


def parse_annotation(
    xml_path: str, images: dict[str, str], images_dir: str, result: ConversionResult
) -> ImageRecord:
    """Reads one VOC XML file into an ``ImageRecord`` (boxes converted to COCO and clipped).

    Args:
        xml_path: the XML file.
        images: image stem -> path, from ``index_images``.
        images_dir: the folder ``file_name`` is made relative to.
        result: receives the clipped and dropped counts.

    Raises:
        NEUDETError: malformed XML, unknown class, missing image, or a box without numbers.
    """
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as e:
        raise NEUDETError(f'{xml_path}: malformed XML ({e})') from None
    xml_stem = osp.splitext(osp.basename(xml_path))[0]
    file_name = (root.findtext('filename') or '').strip()
    stem, suffix = osp.splitext(osp.basename(file_name))
    if suffix.lower() not in IMAGE_SUFFIXES:  # no extension (or none given): use the XML's name
        stem = xml_stem
    image_path = images.get(stem)
    if image_path is None or (
        suffix.lower() in IMAGE_SUFFIXES and osp.basename(image_path) != osp.basename(file_name)
    ):
        raise NEUDETError(f'{xml_path}: its image {file_name or stem!r} is not in {images_dir}')
    class_name, number = class_of(stem, image_path)
    width, height = _image_size(root, image_path)
    file_name = osp.relpath(image_path, images_dir).replace(os.sep, '/')
    record = ImageRecord(image_path, file_name, class_name, number, width, height)
    for obj in root.iter('object'):
        name = (obj.findtext('name') or '').strip()
        if name not in NEU_DET_CLASSES:
            classes = ', '.join(NEU_DET_CLASSES)
            raise NEUDETError(f'{xml_path}: unknown class {name!r} (classes: {classes})')
        bndbox = obj.find('bndbox')
        if bndbox is None:
            raise NEUDETError(f'{xml_path}: an <object> ({name}) has no <bndbox>')
        xmin, ymin, xmax, ymax = (
            _coordinate(bndbox, t, xml_path) for t in ('xmin', 'ymin', 'xmax', 'ymax')
        )
        corners = (xmin - 1, ymin - 1, xmax, ymax)  # 1-based inclusive -> pixel edges
        x0, x1 = (min(max(v, 0), width) for v in corners[::2])
        y0, y1 = (min(max(v, 0), height) for v in corners[1::2])
        if x1 <= x0 or y1 <= y0:
            result.dropped.append(f'{xml_path}: {name} box {xmin:g},{ymin:g},{xmax:g},{ymax:g}')
            continue
        result.clipped += (x0, y0, x1, y1) != corners
        record.boxes.append([_number(v) for v in (x0, y0, x1 - x0, y1 - y0)])
        record.category_ids.append(NEU_DET_CLASSES.index(name) + 1)
    return record


def split_counts(n: int) -> tuple[int, int, int]:
    """Train, val and test sizes for ``n`` images: round(0.7 n), round(0.2 n), the rest."""
    num_train = min(math.floor(SPLIT_FRACTIONS[0] * n + 0.5), n)
    num_val = min(math.floor(SPLIT_FRACTIONS[1] * n + 0.5), n - num_train)
    return num_train, num_val, n - num_train - num_val


def split_records(records: list[ImageRecord], seed: int) -> dict[str, list[ImageRecord]]:
    """Splits per class (stratified) in a seeded order; each split is returned sorted."""
    rng = np.random.default_rng(seed)
    splits: dict[str, list[ImageRecord]] = {split: [] for split in SPLITS}
    for class_name in NEU_DET_CLASSES:
        group = sorted((r for r in records if r.class_name == class_name), key=_sort_key)
        counts = split_counts(len(group))
        order = rng.permutation(len(group)).tolist()
        start = 0
        for split, count in zip(SPLITS, counts):
            splits[split] += [group[i] for i in order[start : start + count]]
            start += count
    return {split: sorted(group, key=_sort_key) for split, group in splits.items()}


def _sort_key(record: ImageRecord) -> tuple[int, int, str]:
    return NEU_DET_CLASSES.index(record.class_name), record.number, record.file_name


def to_coco(
    records: list[ImageRecord], image_ids: dict[str, int], annotation_ids: dict[str, int]
) -> dict:
    """A COCO dict for ``records``; ids come from the global numbering."""
    coco = dict(images=[], annotations=[], categories=coco_categories())
    for record in records:
        image_id = image_ids[record.file_name]
        coco['images'].append(
            dict(id=image_id, file_name=record.file_name, width=record.width, height=record.height)
        )
        for k, (box, category_id) in enumerate(zip(record.boxes, record.category_ids)):
            coco['annotations'].append(
                dict(
                    id=annotation_ids[record.file_name] + k,
                    image_id=image_id,
                    category_id=category_id,
                    bbox=box,
                    area=_number(box[2] * box[3]),
                    iscrowd=0,
                )
            )
    return coco


def _link_images(records: list[ImageRecord], images_dir: str, out_images: str, copy: bool) -> None:
    """Makes every image available as ``out_images/<file_name>``."""
    if osp.isdir(out_images) and osp.samefile(images_dir, out_images):
        return  # converting in place: the images are already there
    for record in records:
        target = osp.join(out_images, record.file_name)
        os.makedirs(osp.dirname(target), exist_ok=True)
        if osp.lexists(target):
            os.remove(target)
        if copy:
            shutil.copyfile(record.image_path, target)
        else:
            os.symlink(osp.abspath(record.image_path), target)


def convert(
    root: str, out_dir: str, seed: int = 0, copy: bool = False, progress: bool = True
) -> ConversionResult:
    """Converts NEU-DET under ``root`` to COCO files in ``out_dir`` (see the module docstring).

    First ``out_dir`` is checked to be writable, then every XML file is read; nothing is written
    unless all of this succeeds. The images are then linked and the three JSON files committed
    as one unit (``write_folder_atomically``): ``annotations/`` holds the complete set of this
    run or of the one before (or, killed at the wrong moment where folders cannot be swapped in
    one step, is absent), never files of two runs; its other files are kept.

    Args:
        root: the folder holding ``ANNOTATIONS/`` and ``IMAGES/``.
        out_dir: where ``images/`` and ``annotations/`` are written.
        seed: seed of the split.
        copy: copy the images instead of linking them.
        progress: show a progress bar.

    Returns:
        The COCO dicts and what was clipped, dropped or left out.

    Raises:
        NEUDETError: a file is malformed, names an unknown class or a missing image.
        FileNotFoundError: ``root`` lacks the folders.
        NotWritableError: ``out_dir`` (or its ``images/``, ``annotations/``) cannot be written.
    """
    for path in (out_dir, osp.join(out_dir, 'images'), osp.join(out_dir, 'annotations')):
        check_writable_folder(path, 'out_dir')
    restore_folder(osp.join(out_dir, 'annotations'))  # in place, it may hold the XML files
    ann_dir, images_dir = find_folder(root, 'annotations'), find_folder(root, 'images')
    xml_names = sorted(n for n in os.listdir(ann_dir) if n.lower().endswith('.xml'))
    if not xml_names:
        raise FileNotFoundError(f'{ann_dir}: has no .xml files')
    images = index_images(images_dir)
    result = ConversionResult(cocos={})
    records: list[ImageRecord] = []
    seen: dict[str, str] = {}
    for name in track_iter_progress(xml_names) if progress else xml_names:
        xml_path = osp.join(ann_dir, name)
        record = parse_annotation(xml_path, images, images_dir, result)
        if record.file_name in seen:
            raise NEUDETError(
                f'{xml_path}: its image {record.file_name} is also the image of '
                f'{seen[record.file_name]}'
            )
        seen[record.file_name] = xml_path
        records.append(record)
    used = {r.image_path for r in records}
    result.images_without_xml = sorted(p for p in images.values() if p not in used)

    records.sort(key=_sort_key)
    image_ids = {r.file_name: i for i, r in enumerate(records, start=1)}
    first_ann = np.cumsum([1] + [len(r.boxes) for r in records]).tolist()
    annotation_ids = {r.file_name: first_ann[i] for i, r in enumerate(records)}
    splits = split_records(records, seed)
    result.cocos = {
        split: to_coco(group, image_ids, annotation_ids) for split, group in splits.items()
    }
    _link_images(records, images_dir, osp.join(out_dir, 'images'), copy)
    write_folder_atomically(
        osp.join(out_dir, 'annotations'),
        {f'instances_{split}.json': dump_json(coco) for split, coco in result.cocos.items()},
    )
    return result


def summary_table(result: ConversionResult) -> str:
    """Images/boxes per split and class, then what was clipped, dropped or left out."""
    header = ['class'] + [f'{s} img/box' for s in SPLITS] + ['all img/box']
    rows = []
    totals = {split: Counter() for split in (*SPLITS, 'all')}
    per_class = {name: {split: Counter() for split in (*SPLITS, 'all')} for name in NEU_DET_CLASSES}
    for split, coco in result.cocos.items():
        image_class = {}
        for img in coco['images']:
            # the image's class is its file-name prefix, as in the split
            stem = osp.splitext(osp.basename(img['file_name']))[0]
            image_class[img['id']] = _NUMBERED.match(stem)['prefix']
        for class_name in image_class.values():
            for key in (split, 'all'):
                per_class[class_name][key]['images'] += 1
                totals[key]['images'] += 1
        for ann in coco['annotations']:
            class_name = NEU_DET_CLASSES[ann['category_id'] - 1]
            for key in (split, 'all'):
                per_class[class_name][key]['boxes'] += 1
                totals[key]['boxes'] += 1
    for name in NEU_DET_CLASSES:
        rows.append([name] + [f'{c["images"]}/{c["boxes"]}' for c in per_class[name].values()])
    rows.append(['total'] + [f'{c["images"]}/{c["boxes"]}' for c in totals.values()])
    table = AsciiTable([header, *rows])
    table.inner_footing_row_border = True
    table.justify_columns = {i: 'right' for i in range(1, len(header))}
    lines = [table.table]
    lines.append('boxes are counted by their <name>, images by their file-name prefix')
    lines.append(
        f'boxes clipped to the image: {result.clipped}; '
        f'degenerate boxes dropped: {len(result.dropped)}'
    )
    lines += [f'  dropped {d}' for d in result.dropped[:20]]
    if len(result.dropped) > 20:
        lines.append(f'  ... and {len(result.dropped) - 20} more')
    if result.images_without_xml:
        lines.append(
            f'{len(result.images_without_xml)} images have no XML and were left out, '
            f'e.g. {result.images_without_xml[0]}'
        )
    return '\n'.join(lines)
