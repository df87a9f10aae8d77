"""NEU-DET: the dataset class (``mgd.datasets.neu_det.NEUDETDataset``, registered as
``mgd.NEUDETDataset``) and ``converters/`` (VOC XML -> COCO, the synthetic look-alike).

Nothing is imported here, so that the converters start without mmdet."""
