"""Reading a Pascal-VOC folder: XML annotations and the images they name.

Input (folder names in any case)::

    ROOT/ANNOTATIONS/a.xml ...    (or Annotations/, annotations/)
    ROOT/IMAGES/a.jpg ...         (or JPEGImages/; sub-folders are allowed)

Box convention: VOC ``xmin, ymin, xmax, ymax`` are read as 1-based, inclusive pixel indices,
so the COCO box is ``[xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1]``: a box
``1, 1, 200, 200`` covers the whole 200x200 image. PaddleDetection's ``x2coco.py``, with which
the reference NEU-DET study prepared its data, converts the same way. (mmdet's ``VOCDataset``
and its ``pascal_voc.py`` subtract 1 from all four values, which makes every box one pixel
narrower and shorter.) Boxes are clipped to the image; a box with no area left is dropped and
counted. A box marked ``<difficult>1</difficult>`` is kept and flagged (the writer decides what
becomes of it). The label of a box is its ``<name>``; names not in the class list are collected
over all files and reported at once (``UnknownClassesError``).
"""

from __future__ import annotations

import math
import os
import os.path as osp
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mmengine.utils import scandir
from PIL import Image

from mgd.utils.errors import MissingFileError, Refusal
from mgd.utils.progress import track

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
# The folder names looked for, the preferred spelling first; any other case is found too.
ANNOTATION_FOLDERS = ('ANNOTATIONS', 'Annotations', 'annotations')
IMAGE_FOLDERS = ('IMAGES', 'Images', 'images', 'JPEGIMAGES', 'JPEGImages', 'jpegimages')

NO_BOXES = '(no boxes)'  # the split group of images without boxes
# (image stem, image path) -> (split group, sort key); None for the defaults: the dominant
# box label (see ``dominant_label``), the file name with its numbers as numbers.
Classify = Callable[[str, str], tuple[str | None, tuple | None]]


class VOCError(Refusal, ValueError):
    """A problem with one file of the data set; the message starts with the file's path."""


class UnknownClassesError(VOCError):
    """Boxes name classes that are not in the class list; lists every such name.

    Attributes:
        classes: the class list.
        unknown: name -> (number of boxes, the XML files naming it, in order).
    """

    def __init__(self, classes: Sequence[str], unknown: dict[str, tuple[int, list[str]]]):
        self.classes = tuple(classes)
        self.unknown = dict(sorted(unknown.items(), key=lambda kv: (-kv[1][0], kv[0])))
        lines = [f'unknown classes in the XML files (classes: {", ".join(self.classes)}):']
        for name, (boxes, files) in self.unknown.items():
            count = (
                f'{boxes} box{"es" * (boxes != 1)} in {len(files)} file{"s" * (len(files) != 1)}'
            )
            lines.append(f'  {files[0]}: unknown class {name!r} ({count})')
        super().__init__('\n'.join(lines))


@dataclass
class ImageRecord:
    """One annotated image.

    Attributes:
        image_path: the image file.
        file_name: its path relative to the images folder (the COCO ``file_name``).
        group: the image's group in the split (a class name, or ``NO_BOXES``).
        order: its sort key, before ``file_name`` (image ids follow ``sort_key``).
        width: image width.
        height: image height.
        boxes: COCO ``[x, y, w, h]`` boxes.
        category_ids: COCO category id (1-based index in the class list) of each box.
        difficult: whether each box is marked ``<difficult>``.
    """

    image_path: str
    file_name: str
    group: str
    order: tuple
    width: int
    height: int
    boxes: list[list[float]] = field(default_factory=list)
    category_ids: list[int] = field(default_factory=list)
    difficult: list[bool] = field(default_factory=list)

    @property
    def sort_key(self) -> tuple:
        return self.order, self.file_name


@dataclass
class VOCData:
    """What ``read_voc`` found.

    Attributes:
        records: one per XML file, in file-name order.
        images_dir: the images folder (``file_name`` is relative to it).
        clipped: boxes clipped to their image.
        dropped: one description per degenerate box that was dropped.
        images_without_xml: image files that no XML refers to (left out).
    """

    records: list[ImageRecord] = field(default_factory=list)
    images_dir: str = ''
    clipped: int = 0
    dropped: list[str] = field(default_factory=list)
    images_without_xml: list[str] = field(default_factory=list)


def find_folder(root: str, names: Sequence[str], label: str) -> str:
    """``root/NAME`` for the first of ``names`` that exists, else one that matches in any case
    (``label`` names the folder in the error)."""
    if not osp.isdir(root):
        raise MissingFileError(f'{root}: no such folder')
    for name in names:
        if osp.isdir(osp.join(root, name)):
            return osp.join(root, name)
    wanted = {name.lower() for name in names}
    for entry in sorted(os.listdir(root)):
        if entry.lower() in wanted and osp.isdir(osp.join(root, entry)):
            return osp.join(root, entry)
    raise MissingFileError(f'{root}: has no {label} folder (the name in any case)')


def index_images(images_dir: str) -> dict[str, str]:
    """Image stem -> path, for every image under ``images_dir`` (sub-folders included)."""
    index: dict[str, str] = {}
    found = scandir(images_dir, suffix=IMAGE_SUFFIXES, recursive=True, case_sensitive=False)
    for relative in sorted(found):
        path = osp.join(images_dir, relative)
        stem = osp.splitext(osp.basename(relative))[0]
        if stem in index:
            raise VOCError(f'{path}: another image has the same name: {index[stem]}')
        index[stem] = path
    return index


def number(value: float) -> int | float:
    """``value`` as an int where it is whole, else rounded to 3 decimals (for the JSON)."""
    return int(value) if float(value).is_integer() else round(float(value), 3)


def _coordinate(bndbox: ET.Element, tag: str, xml_path: str) -> float:
    text = bndbox.findtext(tag)
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise VOCError(f'{xml_path}: <bndbox> has no numeric <{tag}> (got {text!r})') from None
    if not math.isfinite(value):
        raise VOCError(f'{xml_path}: <bndbox> <{tag}> is {text!r}')
    return value


def _is_difficult(obj: ET.Element) -> bool:
    text = (obj.findtext('difficult') or '0').strip().lower()
    try:
        return float(text) != 0
    except ValueError:
        return text in ('true', 'yes')


def _image_size(root: ET.Element, image_path: str, xml_path: str) -> tuple[int, int]:
    """The image file's width and height (its header); ``<size>``, where given, must agree.

    Raises:
        VOCError: ``<size>`` says another size than the image has (the boxes would be clipped
            to the wrong frame and train on the wrong pixels).
    """
    with Image.open(image_path) as img:
        size = img.size
    try:
        written = int(float(root.findtext('size/width'))), int(float(root.findtext('size/height')))
    except (TypeError, ValueError):
        return size
    if all(written) and written != size:
        raise VOCError(
            f'{xml_path}: <size> says {written[0]}x{written[1]}, but its image {image_path} is '
            f'{size[0]}x{size[1]}: fix the XML (or the image) so that its boxes fit the image'
        )
    return size


def parse_annotation(
    xml_path: str,
    images: dict[str, str],
    data: VOCData,
    classes: Sequence[str],
    classify: Classify,
    unknown: dict[str, tuple[int, list[str]]],
) -> ImageRecord:
    """Reads one VOC XML file into an ``ImageRecord`` (boxes converted to COCO and clipped).

    Args:
        xml_path: the XML file.
        images: image stem -> path, from ``index_images``.
        data: receives the clipped and dropped counts; ``data.images_dir`` is the folder
            ``file_name`` is made relative to.
        classes: the class list; category ids are 1-based indices in it.
        classify: gives the image's split group and sort key from its stem and path
            (see ``Classify``).
        unknown: receives the boxes whose ``<name>`` is not in ``classes`` (left out).

    Raises:
        VOCError: malformed XML, missing image, or a box without numbers.
    """
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as e:
        raise VOCError(f'{xml_path}: malformed XML ({e})') from None
    xml_stem = osp.splitext(osp.basename(xml_path))[0]
    file_name = (root.findtext('filename') or '').strip()
    stem, suffix = osp.splitext(osp.basename(file_name))
    if suffix.lower() not in IMAGE_SUFFIXES:  # no extension (or none given): use the XML's name
        stem = xml_stem
    image_path = images.get(stem)
    if image_path is None or (
        suffix.lower() in IMAGE_SUFFIXES and osp.basename(image_path) != osp.basename(file_name)
    ):
        raise VOCError(f'{xml_path}: its image {file_name or stem!r} is not in {data.images_dir}')
    group, order = classify(stem, image_path)
    width, height = _image_size(root, image_path, xml_path)
    file_name = osp.relpath(image_path, data.images_dir).replace(os.sep, '/')
    order = natural_key(file_name) if order is None else order
    record = ImageRecord(image_path, file_name, group, order, width, height)
    for obj in root.iter('object'):
        name = (obj.findtext('name') or '').strip()
        if name not in classes:
            boxes, files = unknown.setdefault(name, (0, []))
            unknown[name] = (boxes + 1, files if xml_path in files else [*files, xml_path])
            continue
        bndbox = obj.find('bndbox')
        if bndbox is None:
            raise VOCError(f'{xml_path}: an <object> ({name}) has no <bndbox>')
        xmin, ymin, xmax, ymax = (
            _coordinate(bndbox, t, xml_path) for t in ('xmin', 'ymin', 'xmax', 'ymax')
        )
        corners = (xmin - 1, ymin - 1, xmax, ymax)  # 1-based inclusive -> pixel edges
        x0, x1 = (min(max(v, 0), width) for v in corners[::2])
        y0, y1 = (min(max(v, 0), height) for v in corners[1::2])
        if x1 <= x0 or y1 <= y0:
            data.dropped.append(f'{xml_path}: {name} box {xmin:g},{ymin:g},{xmax:g},{ymax:g}')
            continue
        data.clipped += (x0, y0, x1, y1) != corners
        record.boxes.append([number(v) for v in (x0, y0, x1 - x0, y1 - y0)])
        record.category_ids.append(classes.index(name) + 1)
        record.difficult.append(_is_difficult(obj))
    if record.group is None:
        record.group = dominant_label(record.category_ids, classes) or NO_BOXES
    return record


def read_voc(
    root: str, classes: Sequence[str], classify: Classify, progress: bool = True
) -> VOCData:
    """Reads every XML file under ``root``'s annotations folder (see the module docstring).

    Raises:
        VOCError: a file is malformed or names a missing image, two XML files name one image.
        UnknownClassesError: boxes name classes not in ``classes`` (all of them listed).
        FileNotFoundError: ``root`` lacks the folders or the XML files.
    """
    ann_dir = find_folder(root, ANNOTATION_FOLDERS, 'ANNOTATIONS/ (or Annotations/)')
    images_dir = find_folder(root, IMAGE_FOLDERS, 'IMAGES/ (or JPEGImages/)')
    xml_names = sorted(n for n in os.listdir(ann_dir) if n.lower().endswith('.xml'))
    if not xml_names:
        raise MissingFileError(f'{ann_dir}: has no .xml files')
    images = index_images(images_dir)
    data = VOCData(images_dir=images_dir)
    unknown: dict[str, tuple[int, list[str]]] = {}
    seen: dict[str, str] = {}
    for name in track(xml_names, 'reading the XML files') if progress else xml_names:
        xml_path = osp.join(ann_dir, name)
        record = parse_annotation(xml_path, images, data, classes, classify, unknown)
        if record.file_name in seen:
            raise VOCError(
                f'{xml_path}: its image {record.file_name} is also the image of '
                f'{seen[record.file_name]}'
            )
        seen[record.file_name] = xml_path
        data.records.append(record)
    if unknown:
        raise UnknownClassesError(classes, unknown)
    used = {r.image_path for r in data.records}
    data.images_without_xml = sorted(p for p in images.values() if p not in used)
    return data


def class_names(root: str) -> Counter:
    """Box count per ``<name>`` over ``root``'s XML files (unreadable files are left to
    ``read_voc`` to report)."""
    ann_dir = find_folder(root, ANNOTATION_FOLDERS, 'ANNOTATIONS/ (or Annotations/)')
    counts: Counter = Counter()
    for name in sorted(os.listdir(ann_dir)):
        if name.lower().endswith('.xml'):
            try:
                tree = ET.parse(osp.join(ann_dir, name))
            except ET.ParseError:
                continue
            counts.update((o.findtext('name') or '').strip() for o in tree.iter('object'))
    return counts


def by_dominant_label(stem: str, image_path: str) -> tuple[None, None]:
    """The default ``Classify``: group by dominant label, sort by file name."""
    return None, None


def natural_key(text: str) -> tuple:
    """Sorts ``img_2`` before ``img_10``: the numbers in ``text`` compare as numbers."""
    return tuple(int(p) if i % 2 else p for i, p in enumerate(re.split(r'(\d+)', text)))


def dominant_label(category_ids: Sequence[int], classes: Sequence[str]) -> str | None:
    """The most frequent label among the boxes (ties: the first in ``classes``); ``None``
    without boxes."""
    if not category_ids:
        return None
    counts = Counter(category_ids)
    return classes[min(counts, key=lambda c: (-counts[c], c)) - 1]
