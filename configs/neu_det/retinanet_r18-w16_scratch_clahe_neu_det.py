# The from-scratch baseline student on CLAHE-enhanced images (clip limit 2, 8x8 tiles): each
# image is enhanced right after it is loaded, in training, validation and testing alike
# (mgd.ContrastEnhance, mgd/datasets/transforms.py). For global histogram equalisation use
# method='hist_eq'; to enhance another config's images, do the same over its pipelines.
_base_ = ['./retinanet_r18-w16_scratch_neu_det.py']
from mgd.datasets.transforms import with_contrast_enhancement

__clahe = dict(method='clahe', clip_limit=2.0, tile_grid_size=(8, 8))  # '__': not a config key
train_dataloader = dict(
    dataset=dict(
        pipeline=with_contrast_enhancement(_base_.train_dataloader.dataset.pipeline, **__clahe)
    )
)
val_dataloader = dict(
    dataset=dict(
        pipeline=with_contrast_enhancement(_base_.val_dataloader.dataset.pipeline, **__clahe)
    )
)
test_dataloader = dict(
    dataset=dict(
        pipeline=with_contrast_enhancement(_base_.test_dataloader.dataset.pipeline, **__clahe)
    )
)
