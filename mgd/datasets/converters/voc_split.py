"""The split that comes with a data set: VOC's ``ImageSets/Main`` lists or a split file.

``ROOT/ImageSets/Main/{train,val,test,trainval}.txt`` (names in any case) list image ids, one
a line (the first word of the line; VOC's per-class files ``CLASS_train.txt`` are not read).
``trainval.txt`` is read only when neither ``train.txt`` nor ``val.txt`` is there (it is their
union). A split file (``--split-file``) has one ``image_id split`` a line, split one of
``train``, ``val``, ``test``, ``trainval``; blank lines and ``#`` comments are skipped. An image
id is the image's file name without its extension (``000005`` for ``JPEGImages/000005.jpg``).

Val is carved from the training images when the split has none of its own (``train`` and
``test`` only, or ``trainval``): of each group (see ``voc_convert``), in a seeded order,
``round(2/9 n)`` go to val, so that train and val keep the random split's 7:2 proportion.
"""

from __future__ import annotations

import math
import os
import os.path as osp
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mgd.datasets.converters.voc import VOCError
from mgd.utils.errors import MissingFileError

LISTED_SPLITS = ('train', 'val', 'test', 'trainval')
VAL_OF_TRAIN = 2 / 9


@dataclass
class GivenSplit:
    """A split that comes with the data.

    Attributes:
        assignment: image id -> ``train``, ``val``, ``test`` or ``trainval``.
        source: where it was read, for the summary.
    """

    assignment: dict[str, str]
    source: str


def find_image_sets(root: str) -> str | None:
    """``ROOT/ImageSets/Main`` (any case), or ``None``."""
    folder = root
    for name in ('imagesets', 'main'):
        entries = {e.lower(): e for e in os.listdir(folder)} if osp.isdir(folder) else {}
        if name not in entries or not osp.isdir(osp.join(folder, entries[name])):
            return None
        folder = osp.join(folder, entries[name])
    return folder


def _add(assignment: dict, owners: dict, image_id: str, split: str, where: str) -> None:
    if image_id in assignment and assignment[image_id] != split:
        raise VOCError(
            f'{where}: image {image_id!r} is in {split}, but also in {assignment[image_id]} '
            f'({owners[image_id]}): an image belongs to one split'
        )
    assignment[image_id], owners[image_id] = split, where


def read_image_sets(root: str) -> GivenSplit | None:
    """The split of ``ROOT/ImageSets/Main``, or ``None`` when it has no split list.

    Raises:
        VOCError: an image is in two lists (naming both files).
    """
    folder = find_image_sets(root)
    if folder is None:
        return None
    files = {
        osp.splitext(n)[0].lower(): osp.join(folder, n)
        for n in sorted(os.listdir(folder))
        if osp.splitext(n)[0].lower() in LISTED_SPLITS and n.lower().endswith('.txt')
    }
    if 'train' in files or 'val' in files:
        files.pop('trainval', None)
    if not files:
        return None
    assignment: dict[str, str] = {}
    owners: dict[str, str] = {}
    for split in LISTED_SPLITS:
        if split in files:
            with open(files[split], encoding='utf-8') as f:
                for number, line in enumerate(f, start=1):
                    if line.split():
                        _add(assignment, owners, line.split()[0], split, f'{files[split]}:{number}')
    names = ','.join(s for s in LISTED_SPLITS if s in files)
    return GivenSplit(assignment, f'{osp.relpath(folder, root)}/{{{names}}}.txt')


def read_split_file(path: str) -> GivenSplit:
    """The split of a file of ``image_id split`` lines.

    Raises:
        VOCError: a line that is not ``image_id split`` with a known split, an image listed
            twice with two splits, or a file without any line.
        FileNotFoundError: no such file.
    """
    if not osp.isfile(path):
        raise MissingFileError(f'--split-file {path}: no such file')
    assignment: dict[str, str] = {}
    owners: dict[str, str] = {}
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, start=1):
            words = line.split('#', 1)[0].split()
            if not words:
                continue
            if len(words) != 2 or words[1] not in LISTED_SPLITS:
                raise VOCError(
                    f'{path}:{number}: expected "image_id split" with split one of '
                    f'{", ".join(LISTED_SPLITS)}; got {line.strip()!r}'
                )
            _add(assignment, owners, words[0], words[1], f'{path}:{number}')
    if not assignment:
        raise VOCError(f'{path}: lists no image ("image_id split" a line)')
    return GivenSplit(assignment, path)


def given_split(root: str, split_file: str | None) -> GivenSplit | None:
    """The split to keep: ``split_file``'s if given, else ``ROOT/ImageSets/Main``'s, else
    ``None`` (the converter's random split)."""
    return read_split_file(split_file) if split_file else read_image_sets(root)


def carve_val(records: list, groups: Sequence[str], seed: int) -> tuple[list, list]:
    """Splits training ``records`` into train and val: ``round(2/9 n)`` of each group (in the
    order of ``groups``) to val, in a seeded order."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for name in groups:
        group = sorted((r for r in records if r.group == name), key=lambda r: r.sort_key)
        num_val = math.floor(VAL_OF_TRAIN * len(group) + 0.5)
        order = rng.permutation(len(group)).tolist()
        val += [group[i] for i in order[:num_val]]
        train += [group[i] for i in order[num_val:]]
    return train, val


def apply_split(
    records: list, given: GivenSplit, groups: Sequence[str], seed: int
) -> tuple[dict[str, list], list, list[str], str]:
    """Assigns ``records`` to train/val/test as ``given`` says.

    Returns:
        ``(splits, left_out, unmatched, how)``: each split's records sorted; the records no
        list names; the listed ids without an annotated image; a line for the summary.
    """
    pools: dict[str, list] = {split: [] for split in LISTED_SPLITS}
    left_out = []
    for record in records:
        image_id = osp.splitext(osp.basename(record.file_name))[0]
        split = given.assignment.get(image_id)
        (pools[split] if split else left_out).append(record)
    found = {osp.splitext(osp.basename(r.file_name))[0] for r in records}
    unmatched = sorted(i for i in given.assignment if i not in found)
    how = f'split: {given.source}'
    # trainval.txt is read only without train.txt and val.txt: then, or with train and test
    # alone, val comes from the training images
    train, val = pools['train'] + pools['trainval'], pools['val']
    if not val:
        train, val = carve_val(train, groups, seed)
        how += f'; val carved from the training images (2/9 of each group, seed {seed})'
    if not pools['test']:
        how += '; no test images: evaluate on val'
    splits = {'train': train, 'val': val, 'test': pools['test']}
    return (
        {split: sorted(group, key=lambda r: r.sort_key) for split, group in splits.items()},
        left_out,
        unmatched,
        how,
    )
