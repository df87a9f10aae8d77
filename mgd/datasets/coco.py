"""COCO-format pieces shared by the NEU-DET converter and the demo-data generator."""

from __future__ import annotations

import json
import os
import os.path as osp
import tempfile
from collections.abc import Mapping

NEU_DET_CLASSES = (
    'crazing',
    'inclusion',
    'patches',
    'pitted_surface',
    'rolled-in_scale',
    'scratches',
)
"""The six NEU-DET defect classes; COCO category ids are 1..6 in this order."""

NEU_DET_PALETTE = (
    (220, 20, 60),
    (0, 130, 200),
    (60, 180, 75),
    (245, 130, 48),
    (145, 30, 180),
    (255, 225, 25),
)
"""One RGB colour per class, for visualisation."""

# COCO's size buckets (pycocotools areaRng): small < 32^2 <= medium < 96^2 <= large.
SMALL_AREA, LARGE_AREA = 32**2, 96**2


def coco_categories() -> list[dict]:
    """The NEU-DET categories as COCO ``categories`` entries, ids 1..6."""
    return [
        dict(id=i, name=name, supercategory='defect')
        for i, name in enumerate(NEU_DET_CLASSES, start=1)
    ]


def size_bucket(area: float) -> str:
    """``'small'``, ``'medium'`` or ``'large'`` as COCO's evaluation buckets an area."""
    if area < SMALL_AREA:
        return 'small'
    return 'medium' if area < LARGE_AREA else 'large'


def dump_json(obj: object) -> str:
    """Serialises ``obj`` the same way on every run (no timestamps, stable key order)."""
    return json.dumps(obj, separators=(',', ':'), ensure_ascii=True) + '\n'


def write_files_atomically(contents: Mapping[str, str]) -> None:
    """Writes several text files so that either all of them appear, or none is touched.

    Each file is written to a temporary file in its target folder first; only when all are
    written are they renamed into place (``os.replace`` is atomic within a file system).

    Args:
        contents: target path -> text.
    """
    temps: dict[str, str] = {}
    try:
        for path, text in contents.items():
            folder = osp.dirname(osp.abspath(path))
            os.makedirs(folder, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
            temps[path] = temp
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                f.write(text)
        for path, temp in temps.items():
            os.replace(temp, path)
    finally:
        for temp in temps.values():
            if osp.exists(temp):
                os.remove(temp)
