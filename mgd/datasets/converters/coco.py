"""COCO-format pieces shared by the VOC (NEU-DET) converter and the demo-data generator."""

from __future__ import annotations

import json
from collections.abc import Sequence

from mgd.datasets.metainfo import NEU_DET_CLASSES

# COCO's size buckets (pycocotools areaRng): small < 32^2 <= medium < 96^2 <= large.
SMALL_AREA, LARGE_AREA = 32**2, 96**2


def coco_categories(
    classes: Sequence[str] = NEU_DET_CLASSES, supercategory: str = 'defect'
) -> list[dict]:
    """COCO ``categories`` entries, ids 1..K in the order of ``classes`` (by default NEU-DET's
    six defect classes)."""
    return [
        dict(id=i, name=name, supercategory=supercategory)
        for i, name in enumerate(classes, start=1)
    ]


def size_bucket(area: float) -> str:
    """``'small'``, ``'medium'`` or ``'large'`` as COCO's evaluation buckets an area."""
    if area < SMALL_AREA:
        return 'small'
    return 'medium' if area < LARGE_AREA else 'large'


def dump_json(obj: object) -> str:
    """Serialises ``obj`` the same way on every run (no timestamps, stable key order)."""
    return json.dumps(obj, separators=(',', ':'), ensure_ascii=True) + '\n'
