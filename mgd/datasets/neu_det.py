"""NEU-DET in the COCO layout written by ``tools/dataset_converters/neu_det_to_coco.py``."""

from mmdet.datasets import CocoDataset

from mgd.datasets.metainfo import NEU_DET_METAINFO
from mgd.registry import DATASETS


@DATASETS.register_module()
class NEUDETDataset(CocoDataset):
    """mmdet's ``CocoDataset`` with NEU-DET's six defect classes and their palette.

    Configs name it ``type='mgd.NEUDETDataset'`` and set no ``metainfo``; the demo's synthetic
    look-alike uses it too. Everything else (arguments, filtering, evaluation) is
    ``CocoDataset``'s.
    """

    METAINFO = NEU_DET_METAINFO
