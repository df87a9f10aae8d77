"""Data: the NEU-DET converter (VOC XML -> COCO) and a synthetic NEU-DET look-alike."""

from mgd.datasets.coco import NEU_DET_CLASSES, NEU_DET_PALETTE, coco_categories

__all__ = ['NEU_DET_CLASSES', 'NEU_DET_PALETTE', 'coco_categories']
