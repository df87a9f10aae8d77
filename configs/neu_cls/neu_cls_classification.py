# NEU-CLS-style defect classification (200x200 grey steel-surface images, 6 classes, 300 per
# class), in the layout written by tools/dataset_converters/neu_det_to_cls.py:
#   data/neu_cls/images/*.jpg   data/neu_cls/meta/{train,val,test}.txt   (7:2:1 per class)
# Classes come with the dataset class (mgd/datasets/neu_cls.py). Images are resized to 64 px
# so that the teachers train in minutes on a CPU.
dataset_type = 'mgd.NEUCLSDataset'
data_root = 'data/neu_cls/'
data_preprocessor = dict(
    type='mmpretrain.ClsDataPreprocessor',
    num_classes=6,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackInputs'),
]


def _loader(split: str, shuffle: bool, pipeline: list) -> dict:
    return dict(
        batch_size=32,
        num_workers=1,
        persistent_workers=True,
        sampler=dict(type='DefaultSampler', shuffle=shuffle),
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            ann_file=f'meta/{split}.txt',
            data_prefix='images',
            pipeline=pipeline,
        ),
    )


train_dataloader = _loader('train', True, train_pipeline)
val_dataloader = _loader('val', False, test_pipeline)
test_dataloader = _loader('test', False, test_pipeline)
# accuracy, and precision/recall per class (average=None) beside their means
val_evaluator = [
    dict(type='Accuracy', topk=(1,)),
    dict(type='SingleLabelMetric', items=('precision', 'recall'), average=None),
    dict(type='SingleLabelMetric', items=('precision', 'recall')),
]
test_evaluator = val_evaluator
