"""The synthetic NEU-DET look-alike: determinism, layout, boxes, and loading by mmdet."""

import filecmp
import json
import os
import os.path as osp
import subprocess
import sys
from collections import Counter

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from pycocotools.coco import COCO

from mgd.datasets.converters.synthetic import IMAGE_SIZE, make_demo_data
from mgd.datasets.metainfo import NEU_DET_CLASSES, NEU_DET_METAINFO

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATASET_CONFIG = osp.join(REPO, 'configs', 'neu_det', 'neu_det_detection.py')
NUM_TRAIN, NUM_VAL = 24, 6


@pytest.fixture(scope='module')
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp('demo')
    make_demo_data(str(out), NUM_TRAIN, NUM_VAL, seed=0)
    return out


def load(demo_dir, split):
    with open(demo_dir / 'annotations' / f'instances_{split}.json') as f:
        return json.load(f)


def test_layout_and_counts(demo_dir):
    assert sorted(os.listdir(demo_dir / 'annotations')) == [
        'instances_train.json',
        'instances_val.json',
        'seg_train.txt',
        'seg_val.txt',
    ]
    images = sorted(os.listdir(demo_dir / 'images'))
    assert len(images) == NUM_TRAIN + NUM_VAL
    masks = sorted(os.listdir(demo_dir / 'masks'))
    assert masks == [name.replace('.jpg', '.png') for name in images]
    for split, n in (('train', NUM_TRAIN), ('val', NUM_VAL)):
        coco = load(demo_dir, split)
        assert [img['file_name'] for img in coco['images']] == [
            f'{split}_{i:04d}.jpg' for i in range(n)
        ]
        assert [c['name'] for c in coco['categories']] == list(NEU_DET_CLASSES)
        assert [c['id'] for c in coco['categories']] == [1, 2, 3, 4, 5, 6]
        per_image = Counter(a['image_id'] for a in coco['annotations'])
        assert set(per_image) == {img['id'] for img in coco['images']}  # no empty image
        assert all(1 <= k <= 3 for k in per_image.values())
        ids = [a['id'] for a in coco['annotations']]
        assert len(set(ids)) == len(ids)


def test_boxes_inside_images_and_one_class_per_image(demo_dir):
    for split in ('train', 'val'):
        coco = load(demo_dir, split)
        classes_of_image = {}
        for ann in coco['annotations']:
            x, y, w, h = ann['bbox']
            assert x >= 0 and y >= 0 and w >= 1 and h >= 1
            assert x + w <= IMAGE_SIZE and y + h <= IMAGE_SIZE
            assert ann['area'] == w * h and ann['iscrowd'] == 0
            classes_of_image.setdefault(ann['image_id'], set()).add(ann['category_id'])
        assert all(len(c) == 1 for c in classes_of_image.values())


def test_classes_are_balanced_in_train(demo_dir):
    coco = load(demo_dir, 'train')
    image_class = {a['image_id']: a['category_id'] for a in coco['annotations']}
    # blocks of 6 images hold every class once: 24 images -> 4 of each
    assert Counter(image_class.values()) == {i: NUM_TRAIN // 6 for i in range(1, 7)}


def test_images_are_grey_200px_and_defects_visible(demo_dir):
    coco = load(demo_dir, 'train')
    for img_info in coco['images'][:6]:
        img = cv2.imread(str(demo_dir / 'images' / img_info['file_name']), cv2.IMREAD_UNCHANGED)
        assert img.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
        spread = img.astype(int).max(axis=2) - img.astype(int).min(axis=2)
        assert spread.max() <= 3  # grey stored in 3 channels (JPEG chroma rounding only)
    # inside the boxes the image departs from the background more than outside them
    img_info = coco['images'][0]
    img = cv2.imread(str(demo_dir / 'images' / img_info['file_name']), cv2.IMREAD_GRAYSCALE)
    inside = np.zeros(img.shape, bool)
    for ann in coco['annotations']:
        if ann['image_id'] == img_info['id']:
            x, y, w, h = ann['bbox']
            inside[y : y + h, x : x + w] = True
    deviation = np.abs(img.astype(float) - np.median(img[~inside]))
    assert deviation[inside].mean() > 1.5 * deviation[~inside].mean()


def test_rerun_is_byte_identical_and_prefix_stable(demo_dir, tmp_path):
    make_demo_data(str(tmp_path / 'a'), NUM_TRAIN, NUM_VAL, seed=0)
    cmp = filecmp.dircmp(demo_dir, tmp_path / 'a')
    for sub in ('images', 'annotations'):
        names = sorted(os.listdir(demo_dir / sub))
        match, mismatch, errors = filecmp.cmpfiles(
            demo_dir / sub, tmp_path / 'a' / sub, names, shallow=False
        )
        assert (mismatch, errors) == ([], []) and len(match) == len(names)
    assert not cmp.left_only and not cmp.right_only
    # image i does not depend on how many images were asked for; another seed differs
    make_demo_data(str(tmp_path / 'b'), 6, 0, seed=0)
    make_demo_data(str(tmp_path / 'c'), 6, 0, seed=1)
    for i in range(6):
        name = f'train_{i:04d}.jpg'
        assert filecmp.cmp(
            demo_dir / 'images' / name, tmp_path / 'b' / 'images' / name, shallow=False
        )
    assert not filecmp.cmp(
        tmp_path / 'b' / 'images' / 'train_0000.jpg',
        tmp_path / 'c' / 'images' / 'train_0000.jpg',
        shallow=False,
    )


def test_tool_from_the_command_line(demo_dir, tmp_path):
    """Run as a user would; another process writes the same bytes."""
    out = tmp_path / 'cli'
    result = subprocess.run(
        [
            sys.executable,
            osp.join(REPO, 'tools', 'misc', 'make_demo_data.py'),
            str(out),
            '--train',
            str(NUM_TRAIN),
            '--val',
            str(NUM_VAL),
            '--seed',
            '0',
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f'train {NUM_TRAIN} images' in result.stdout and f'val {NUM_VAL} images' in result.stdout
    for split in ('train', 'val'):
        name = f'instances_{split}.json'
        assert filecmp.cmp(
            demo_dir / 'annotations' / name, out / 'annotations' / name, shallow=False
        )
    assert filecmp.cmp(
        demo_dir / 'images' / 'val_0005.jpg', out / 'images' / 'val_0005.jpg', shallow=False
    )


def test_pycocotools_loads_it(demo_dir):
    coco = COCO(str(demo_dir / 'annotations' / 'instances_train.json'))
    assert len(coco.getImgIds()) == NUM_TRAIN
    assert coco.getCatIds() == [1, 2, 3, 4, 5, 6]
    assert set(coco.cats[i]['name'] for i in coco.getCatIds()) == set(NEU_DET_CLASSES)


def test_dataset_config_loads_it_with_mmdet(demo_dir):
    import mmdet.datasets  # noqa: F401  (registers CocoDataset and the transforms)
    from mmdet.registry import DATASETS

    cfg = Config.fromfile(DATASET_CONFIG)
    assert cfg.train_dataloader.dataset.type == 'mgd.NEUDETDataset'
    assert 'metainfo' not in cfg.train_dataloader.dataset  # the class names come with the class
    with DefaultScope.overwrite_default_scope('mmdet'):
        train = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=str(demo_dir) + '/'))
        val = DATASETS.build(dict(cfg.val_dataloader.dataset, data_root=str(demo_dir) + '/'))
    assert len(train) == NUM_TRAIN and len(val) == NUM_VAL
    assert train.metainfo['classes'] == NEU_DET_CLASSES == NEU_DET_METAINFO['classes']
    assert [tuple(c) for c in val.metainfo['palette']] == list(NEU_DET_METAINFO['palette'])
    sample = train[0]
    assert tuple(sample['inputs'].shape) == (3, 512, 512)  # 200 px upscaled to 512
    # val: the image is resized, the boxes stay in the original image (the metric compares
    # them with predictions rescaled back by scale_factor)
    coco = load(demo_dir, 'val')
    sample = val[0]
    expected = [
        [x, y, x + w, y + h]
        for a in coco['annotations']
        if a['image_id'] == 1
        for x, y, w, h in [a['bbox']]
    ]
    boxes = sample['data_samples'].gt_instances.bboxes.tensor.numpy()
    np.testing.assert_allclose(boxes, np.array(expected, dtype=np.float32))
    assert sample['data_samples'].img_shape == (512, 512)
    np.testing.assert_allclose(sample['data_samples'].scale_factor, (512 / 200, 512 / 200))
    labels = sample['data_samples'].gt_instances.labels.tolist()
    assert labels == [a['category_id'] - 1 for a in coco['annotations'] if a['image_id'] == 1]


def test_dataset_config_metric_matches_the_json(demo_dir, tmp_path):
    """The config's CocoMetric (ground truth from the pipeline) scores as one on the JSON."""
    import mmdet.datasets  # noqa: F401
    import mmdet.evaluation  # noqa: F401
    from mmdet.registry import DATASETS, METRICS
    from mmengine.structures import InstanceData

    cfg = Config.fromfile(DATASET_CONFIG)
    with DefaultScope.overwrite_default_scope('mmdet'):
        val = DATASETS.build(dict(cfg.val_dataloader.dataset, data_root=str(demo_dir) + '/'))
        from_pipeline = METRICS.build(cfg.val_evaluator)
        from_json = METRICS.build(
            dict(cfg.val_evaluator, ann_file=str(demo_dir / 'annotations' / 'instances_val.json'))
        )
    rng = np.random.default_rng(0)
    for metric in (from_pipeline, from_json):
        metric.dataset_meta = val.metainfo
    for i in range(len(val)):
        sample = val[i]['data_samples']
        gt = sample.gt_instances
        # imperfect predictions: jittered boxes, some with the wrong class
        boxes = gt.bboxes.tensor + torch.from_numpy(rng.uniform(-4, 4, (len(gt), 4))).float()
        labels = gt.labels if i % 3 else (gt.labels + 1) % 6
        sample.pred_instances = InstanceData(
            bboxes=boxes, labels=labels, scores=torch.linspace(1, 0.5, len(gt))
        )
        for metric in (from_pipeline, from_json):
            metric.process({}, [sample.to_dict()])
    results = [m.evaluate(len(val)) for m in (from_pipeline, from_json)]
    keys = [f'coco/bbox_{k}' for k in ('mAP', 'mAP_50', 'mAP_s', 'mAP_m', 'mAP_l')]
    assert set(keys) <= set(results[0])
    assert [results[0][k] for k in keys] == [results[1][k] for k in keys]
    assert 0.1 < results[0]['coco/bbox_mAP'] < 1


def test_a_kill_between_renames_leaves_one_whole_set(tmp_path, monkeypatch):
    """The two JSON files are committed as one folder: never train of one run, val of another."""
    from mgd.utils import fileio

    out = tmp_path / 'demo'
    make_demo_data(str(out), 6, 2, seed=0)
    names = ['instances_train.json', 'instances_val.json']
    old = [(out / 'annotations' / n).read_bytes() for n in names]
    monkeypatch.setattr(fileio, '_exchange', lambda a, b: False, raising=False)
    real_replace, calls = os.replace, []

    def replace_then_die(src, dst):
        calls.append(dst)
        if len(calls) > 1:
            raise KeyboardInterrupt  # the process dies after the first rename
        real_replace(src, dst)

    monkeypatch.setattr(os, 'replace', replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        make_demo_data(str(out), 6, 2, seed=1)
    monkeypatch.undo()
    if (out / 'annotations').exists():
        assert [(out / 'annotations' / n).read_bytes() for n in names] == old
    make_demo_data(str(out), 6, 2, seed=1)  # the next run completes and cleans up
    assert sorted(os.listdir(out)) == ['annotations', 'images', 'masks']
    assert sorted(os.listdir(out / 'annotations')) == [*names, 'seg_train.txt', 'seg_val.txt']
    assert [(out / 'annotations' / n).read_bytes() for n in names] != old


def test_tool_reports_an_out_dir_it_cannot_write(tmp_path):
    out = tmp_path / 'demo'
    out.write_text('a file, not a folder')
    result = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'misc', 'make_demo_data.py'), str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert str(out) in result.stderr and 'out_dir' in result.stderr
    assert out.read_text() == 'a file, not a folder' and os.listdir(tmp_path) == ['demo']
