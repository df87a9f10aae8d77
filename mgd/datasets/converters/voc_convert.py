"""Any Pascal-VOC folder to COCO, split 7:2:1 per group (stratified).

Output::

    OUT_DIR/images/...                            (links to, or copies of, the images)
    OUT_DIR/annotations/instances_{train,val,test}.json

Reading (folders, box convention, unknown classes): see ``voc.py``. COCO category ids are
1..K in the order of the class list. A box marked ``<difficult>1</difficult>`` becomes an
ignored region, ``iscrowd: 1``, as VOC evaluation ignores it: mmdet's ``CocoDataset`` moves it
out of the training targets (into ``ignored_instances``) and COCO evaluation neither rewards
nor penalises detections on it; ``keep_difficult`` writes it as an ordinary box instead.

Split: a split that comes with the data (``ImageSets/Main`` lists or a split file, see
``voc_split.py``) is kept. Otherwise each image has a group, by default its most frequent box
label (ties: the first in the class list; images without boxes form a group of their own); a
preset may group by something else (NEU-DET: the file-name prefix). Per group, in class-list
order, with ``n`` images in a seeded random order, the first ``round(0.7 n)`` go to train, the
next ``round(0.2 n)`` to val, the rest to test (rounding half up: 300 -> 210/60/30). Image and
annotation ids are unique across the three files. A re-run with the same seed writes the same
bytes.
"""

from __future__ import annotations

import errno
import math
import os
import os.path as osp
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from terminaltables import AsciiTable

from mgd.datasets.converters.coco import coco_categories, dump_json
from mgd.datasets.converters.voc import (
    NO_BOXES,
    Classify,
    ImageRecord,
    VOCError,
    by_dominant_label,
    number,
    read_voc,
)
from mgd.datasets.converters.voc_split import GivenSplit, apply_split
from mgd.utils.errors import ConfigError
from mgd.utils.fileio import (
    NotWritableError,
    check_writable_folder,
    restore_folder,
    write_folder_atomically,
)

SPLITS = ('train', 'val', 'test')
SPLIT_FRACTIONS = (0.7, 0.2)  # train, val; test gets the rest
GROUPED_BY_LABEL = 'their most frequent box label'


@dataclass
class ConversionResult:
    """What ``convert_voc`` wrote, and what it changed on the way.

    Attributes:
        cocos: split name -> COCO dict, as written.
        classes: the class list (category ids 1..K).
        groups: COCO ``file_name`` -> the image's group in the split.
        grouped_by: how images were grouped, for the summary.
        clipped: boxes clipped to their image.
        dropped: one description per degenerate box that was dropped.
        images_without_xml: image files that no XML refers to (left out).
        difficult: boxes marked ``<difficult>``.
        keep_difficult: whether they were written as ordinary boxes (else ``iscrowd: 1``).
        split_how: which split was used, for the summary.
        not_in_split: images that the given split does not list (left out).
        unmatched: ids that the given split lists but no annotated image has.
    """

    cocos: dict[str, dict]
    classes: tuple[str, ...] = ()
    groups: dict[str, str] = field(default_factory=dict)
    grouped_by: str = GROUPED_BY_LABEL
    clipped: int = 0
    dropped: list[str] = field(default_factory=list)
    images_without_xml: list[str] = field(default_factory=list)
    difficult: int = 0
    keep_difficult: bool = False
    split_how: str = ''
    not_in_split: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)


def split_counts(n: int) -> tuple[int, int, int]:
    """Train, val and test sizes for ``n`` images: round(0.7 n), round(0.2 n), the rest."""
    num_train = min(math.floor(SPLIT_FRACTIONS[0] * n + 0.5), n)
    num_val = min(math.floor(SPLIT_FRACTIONS[1] * n + 0.5), n - num_train)
    return num_train, num_val, n - num_train - num_val


def split_records(
    records: list[ImageRecord], groups: Sequence[str], seed: int
) -> dict[str, list[ImageRecord]]:
    """Splits each group (in the order of ``groups``) in a seeded order; each split is
    returned sorted."""
    rng = np.random.default_rng(seed)
    splits: dict[str, list[ImageRecord]] = {split: [] for split in SPLITS}
    for name in groups:
        group = sorted((r for r in records if r.group == name), key=lambda r: r.sort_key)
        counts = split_counts(len(group))
        order = rng.permutation(len(group)).tolist()
        start = 0
        for split, count in zip(SPLITS, counts):
            splits[split] += [group[i] for i in order[start : start + count]]
            start += count
    return {split: sorted(group, key=lambda r: r.sort_key) for split, group in splits.items()}


def to_coco(
    records: list[ImageRecord],
    image_ids: dict[str, int],
    annotation_ids: dict[str, int],
    categories: list[dict],
    keep_difficult: bool,
) -> dict:
    """A COCO dict for ``records``; ids come from the global numbering."""
    coco = dict(images=[], annotations=[], categories=categories)
    for record in records:
        image_id = image_ids[record.file_name]
        coco['images'].append(
            dict(id=image_id, file_name=record.file_name, width=record.width, height=record.height)
        )
        boxes = zip(record.boxes, record.category_ids, record.difficult)
        for k, (box, category_id, difficult) in enumerate(boxes):
            coco['annotations'].append(
                dict(
                    id=annotation_ids[record.file_name] + k,
                    image_id=image_id,
                    category_id=category_id,
                    bbox=box,
                    area=number(box[2] * box[3]),
                    iscrowd=int(difficult and not keep_difficult),
                )
            )
    return coco


def _link_images(records: list[ImageRecord], images_dir: str, out_images: str, copy: bool) -> None:
    """Makes every image available as ``out_images/<file_name>``.

    Raises:
        NotWritableError: with ``copy``, the disk has not room for the images (checked before
            the first copy) or fills while copying (the partial file is removed).
    """
    if osp.isdir(out_images) and osp.samefile(images_dir, out_images):
        return  # converting in place: the images are already there
    if copy:
        os.makedirs(out_images, exist_ok=True)
        needed = sum(osp.getsize(r.image_path) for r in records)
        free = shutil.disk_usage(out_images).free
        if needed > free:
            raise NotWritableError(
                f'{out_images}: copying the images needs {needed / 2**20:.1f} MiB, and '
                f'{free / 2**20:.1f} MiB are free; free some space, or link them (without '
                '--copy). Nothing was written.'
            )
    for record in records:
        target = osp.join(out_images, record.file_name)
        os.makedirs(osp.dirname(target), exist_ok=True)
        if osp.lexists(target):
            os.remove(target)
        if copy:
            try:
                shutil.copyfile(record.image_path, target)
            except OSError as err:
                if osp.lexists(target):
                    os.remove(target)  # no truncated image under a real name
                if err.errno == errno.ENOSPC:
                    raise NotWritableError(
                        f'{out_images}: no space left while copying {record.image_path}; the '
                        'annotation files were not written. Free some space and run again.'
                    ) from err
                raise
        else:
            os.symlink(osp.abspath(record.image_path), target)


def convert_voc(
    root: str,
    out_dir: str,
    classes: Sequence[str],
    *,
    seed: int = 0,
    copy: bool = False,
    keep_difficult: bool = False,
    progress: bool = True,
    supercategory: str = 'none',
    classify: Classify = by_dominant_label,
    grouped_by: str = GROUPED_BY_LABEL,
    split: GivenSplit | None = None,
) -> ConversionResult:
    """Converts the VOC folder ``root`` to COCO files in ``out_dir`` (see the module docstring).

    First ``out_dir`` is checked to be writable, then every XML file is read; nothing is written
    unless all of this succeeds. The images are then linked and the three JSON files committed
    as one unit (``write_folder_atomically``): ``annotations/`` holds the complete set of this
    run or of the one before (or, killed at the wrong moment where folders cannot be swapped in
    one step, is absent), never files of two runs; its other files are kept.

    Args:
        root: the folder holding the annotations and images folders.
        out_dir: where ``images/`` and ``annotations/`` are written.
        classes: the class list; category ids 1..K follow its order.
        seed: seed of the split.
        copy: copy the images instead of linking them.
        keep_difficult: write ``<difficult>`` boxes as ordinary boxes, not ``iscrowd: 1``.
        progress: show a progress bar.
        supercategory: the COCO categories' ``supercategory``.
        classify: a preset's grouping and order of the images (default: dominant label).
        grouped_by: how ``classify`` groups, for the summary.
        split: a split that comes with the data (``voc_split.given_split``), kept instead of
            the random one; without test images, no ``instances_test.json`` is written (an
            old one is removed).

    Returns:
        The COCO dicts and what was clipped, dropped or left out.

    Raises:
        VOCError: a file is malformed or names a missing image; ``UnknownClassesError``, a
            ``VOCError``, lists every class name that is not in ``classes``.
        FileNotFoundError: ``root`` lacks the folders.
        NotWritableError: ``out_dir`` (or its ``images/``, ``annotations/``) cannot be written.
        ValueError: ``classes`` is empty or repeats a name.
    """
    classes = tuple(classes)
    repeated = sorted(name for name, n in Counter(classes).items() if n > 1)
    if not classes or repeated:
        raise ConfigError(f'the class list is empty or repeats {", ".join(repeated)}'.strip())
    for path in (out_dir, osp.join(out_dir, 'images'), osp.join(out_dir, 'annotations')):
        check_writable_folder(path, 'out_dir')
    restore_folder(osp.join(out_dir, 'annotations'))  # in place, it may hold the XML files
    data = read_voc(root, classes, classify, progress)
    records = sorted(data.records, key=lambda r: r.sort_key)
    result = ConversionResult(
        cocos={},
        classes=classes,
        groups={r.file_name: r.group for r in records},
        grouped_by=grouped_by,
        clipped=data.clipped,
        dropped=data.dropped,
        images_without_xml=data.images_without_xml,
        difficult=sum(sum(r.difficult) for r in records),
        keep_difficult=keep_difficult,
    )
    image_ids = {r.file_name: i for i, r in enumerate(records, start=1)}
    first_ann = np.cumsum([1] + [len(r.boxes) for r in records]).tolist()
    annotation_ids = {r.file_name: first_ann[i] for i, r in enumerate(records)}
    groups = (*classes, NO_BOXES)
    if split is None:
        splits = split_records(records, groups, seed)
        result.split_how = f'split: random 7:2:1 per group, seed {seed}'
    else:
        splits, left_out, result.unmatched, result.split_how = apply_split(
            records, split, groups, seed
        )
        result.not_in_split = [r.file_name for r in left_out]
        if not splits['train']:
            raise VOCError(f'{split.source}: no annotated image is in the training split')
    categories = coco_categories(classes, supercategory)
    result.cocos = {
        split: to_coco(group, image_ids, annotation_ids, categories, keep_difficult)
        for split, group in splits.items()
    }
    _link_images(records, data.images_dir, osp.join(out_dir, 'images'), copy)
    write_folder_atomically(
        osp.join(out_dir, 'annotations'),
        {
            f'instances_{name}.json': dump_json(coco) if coco['images'] or name != 'test' else None
            for name, coco in result.cocos.items()
        },
    )
    return result


def summary_table(result: ConversionResult) -> str:
    """Images/boxes per split and group, then what was clipped, dropped, ignored or left out."""
    header = ['class'] + [f'{s} img/box' for s in SPLITS] + ['all img/box']
    columns = (*SPLITS, 'all')
    rows = [*result.classes]
    if NO_BOXES in result.groups.values():
        rows.append(NO_BOXES)
    counts = {name: {key: Counter() for key in columns} for name in (*rows, 'total')}
    for split, coco in result.cocos.items():
        for img in coco['images']:
            for name in (result.groups[img['file_name']], 'total'):
                for key in (split, 'all'):
                    counts[name][key]['images'] += 1
        for ann in coco['annotations']:
            for name in (result.classes[ann['category_id'] - 1], 'total'):
                for key in (split, 'all'):
                    counts[name][key]['boxes'] += 1
    table = AsciiTable(
        [header]
        + [[name] + [f'{c["images"]}/{c["boxes"]}' for c in counts[name].values()] for name in rows]
        + [['total'] + [f'{c["images"]}/{c["boxes"]}' for c in counts['total'].values()]]
    )
    table.inner_footing_row_border = True
    table.justify_columns = {i: 'right' for i in range(1, len(header))}
    lines = [table.table]
    lines.append(f'boxes are counted by their <name>, images by {result.grouped_by}')
    lines.append(result.split_how)
    if result.not_in_split:
        lines.append(
            f'{len(result.not_in_split)} annotated images are in no split list and were left '
            f'out, e.g. {result.not_in_split[0]}'
        )
    if result.unmatched:
        lines.append(
            f'{len(result.unmatched)} listed image ids have no annotated image, e.g. '
            f'{result.unmatched[0]}'
        )
    treatment = 'kept as ordinary boxes' if result.keep_difficult else 'ignored: iscrowd=1'
    lines.append(f'difficult boxes: {result.difficult} ({treatment})')
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
