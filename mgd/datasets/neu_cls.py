"""NEU-CLS-style classification in the layout of ``tools/dataset_converters/neu_det_to_cls.py``."""

from mmpretrain.datasets import CustomDataset

from mgd.datasets.metainfo import NEU_DET_CLASSES
from mgd.registry import DATASETS


@DATASETS.register_module()
class NEUCLSDataset(CustomDataset):
    """mmpretrain's ``CustomDataset`` with NEU-DET's six classes (label = index in them).

    Configs name it ``type='mgd.NEUCLSDataset'`` with ``ann_file='meta/train.txt'`` and
    ``data_prefix='images'``; metrics and everything else are ``CustomDataset``'s.
    """

    METAINFO = dict(classes=NEU_DET_CLASSES)
