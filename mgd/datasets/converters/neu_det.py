"""NEU-DET (Pascal-VOC XML + JPEG) to COCO, split 7:2:1 per class: the preset of the VOC
converter (``voc.py`` reads, ``voc_convert.py`` splits and writes).

Input, as distributed (folder names in any case)::

    NEU_DET_ROOT/ANNOTATIONS/crazing_1.xml ...
    NEU_DET_ROOT/IMAGES/crazing_1.jpg ...        (sub-folders are allowed)

What the preset sets: the classes are NEU-DET's six (``NEU_DET_CLASSES``, category ids 1..6,
supercategory ``defect``); the split group of an image is its file-name prefix
(``rolled-in_scale_12`` -> ``rolled-in_scale``), which must be one of the classes, so that each
split holds 70/20/10 % of each class's images (300 -> 210/60/30); image ids follow the class
order, then the number. A box's label is its ``<name>``, which differs from the prefix for 188
boxes of the real data. The 81 ``<difficult>`` boxes become ``iscrowd: 1`` (ignored) unless
``keep_difficult``. Box convention and everything else: as for any VOC folder.
"""

from __future__ import annotations

import re

from mgd.datasets.converters.voc import VOCError
from mgd.datasets.converters.voc_convert import (
    SPLITS,
    ConversionResult,
    convert_voc,
    split_counts,
    summary_table,
)
from mgd.datasets.metainfo import NEU_DET_CLASSES

__all__ = [
    'SPLITS',
    'ConversionResult',
    'NEUDETError',
    'class_of',
    'convert',
    'split_counts',
    'summary_table',
]

NEUDETError = VOCError  # the name the NEU-DET converter's errors had
_NUMBERED = re.compile(r'^(?P<prefix>.+?)_(?P<number>\d+)$')
GROUPED_BY_PREFIX = 'their file-name prefix'


def class_of(stem: str, path: str) -> tuple[str, tuple[int, int]]:
    """The class of a file stem such as ``pitted_surface_3`` and its sort key (class, number).

    Raises:
        VOCError: the stem is not ``<class>_<number>``.
    """
    match = _NUMBERED.match(stem)
    if not match or match['prefix'] not in NEU_DET_CLASSES:
        raise VOCError(
            f'{path}: the file name does not start with a NEU-DET class and end '
            f'with _<number> (classes: {", ".join(NEU_DET_CLASSES)})'
        )
    return match['prefix'], (NEU_DET_CLASSES.index(match['prefix']), int(match['number']))


def convert(
    root: str,
    out_dir: str,
    seed: int = 0,
    copy: bool = False,
    progress: bool = True,
    keep_difficult: bool = False,
) -> ConversionResult:
    """Converts NEU-DET under ``root`` to COCO files in ``out_dir`` (see the module docstring
    and ``convert_voc``, whose errors it raises)."""
    return convert_voc(
        root,
        out_dir,
        NEU_DET_CLASSES,
        seed=seed,
        copy=copy,
        keep_difficult=keep_difficult,
        progress=progress,
        supercategory='defect',
        classify=class_of,
        grouped_by=GROUPED_BY_PREFIX,
    )
