"""COCO-format pieces shared by the NEU-DET converter and the demo-data generator."""

from __future__ import annotations

import json

from mgd.datasets.metainfo import NEU_DET_CLASSES

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
