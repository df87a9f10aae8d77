"""The segmentation check on the synthetic defects: the per-pixel labels agree with the boxes,
and the teacher → MGD student path of ``configs/demo_seg/`` trains and scores mIoU through
``tools/train.py`` and ``tools/test.py`` (a few iterations; the README has the full run)."""

import json
import pickle
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from tool_run import run_tool

from mgd.datasets.converters.synthetic import make_demo_data
from mgd.datasets.metainfo import NEU_DET_CLASSES

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs' / 'demo_seg'


@pytest.fixture(scope='module')
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('demo_seg') / 'data'
    make_demo_data(str(root), 12, 6, seed=0)
    return root


def test_masks_label_the_defects_inside_their_boxes(data):
    for split in ('train', 'val'):
        coco = json.loads((data / 'annotations' / f'instances_{split}.json').read_text())
        names = (data / 'annotations' / f'seg_{split}.txt').read_text().split()
        assert names == [img['file_name'][:-4] for img in coco['images']]
        for img in coco['images']:
            mask = cv2.imread(str(data / 'masks' / (img['file_name'][:-4] + '.png')), -1)
            assert mask.shape == (200, 200) and mask.dtype == np.uint8
            anns = [a for a in coco['annotations'] if a['image_id'] == img['id']]
            inside = np.zeros_like(mask, dtype=bool)
            for ann in anns:
                x, y, w, h = ann['bbox']
                box = mask[y : y + h, x : x + w]
                # the box is tight around its defect: labelled pixels touch all four sides
                rows, cols = np.nonzero(box == ann['category_id'])
                assert (rows.min(), cols.min(), rows.max(), cols.max()) == (0, 0, h - 1, w - 1)
                inside[y : y + h, x : x + w] = True
            labels = set(np.unique(mask)) - {0}
            assert labels == {a['category_id'] for a in anns} and len(labels) == 1
            assert not mask[~inside].any()  # no label outside the boxes


def test_teacher_then_mgd_student_score_miou(data, tmp_path):
    root = [f'{s}_dataloader.dataset.data_root={data}/' for s in ('train', 'val', 'test')]
    short = [*root, 'train_cfg.max_iters=4', 'train_cfg.val_interval=4',
             'default_hooks.checkpoint.interval=4', 'train_dataloader.batch_size=4']  # fmt: skip

    run_tool('tools/train.py', CONFIGS / 'pspnet_r18-w32_demo-seg.py', '--work-dir',
         tmp_path / 'teacher', '--cfg-options', *short)  # fmt: skip
    mgd = CONFIGS / 'mgd_pspnet_r18-w32_pspnet_r18-w16_demo-seg.py'
    run_tool('tools/train.py', mgd, '--work-dir', tmp_path / 'mgd', '--cfg-options', *short,
         f'model.teacher_ckpt={tmp_path / "teacher" / "iter_4.pth"}')  # fmt: skip
    log = next((tmp_path / 'mgd').glob('*/*.log')).read_text()
    losses = re.findall(r'distill\.loss_mgd_backbone3: ([\d.e+-]+)', log)
    assert losses and all(float(v) > 0 for v in losses)
    assert 'student.decode.loss_ce' in log
    out = run_tool('tools/test.py', mgd, tmp_path / 'mgd' / 'iter_4.pth', '--work-dir',
               tmp_path / 'test', '--out', tmp_path / 'pred.pkl', '--cfg-options',
               *root).stdout  # fmt: skip
    miou = re.search(r'^mIoU: ([\d.]+)$', out, re.M)
    # by hand from the dumped predictions: per class, pixels in both / pixels in either, over
    # the whole test set; the mean over the classes that occur in labels or predictions
    samples = pickle.loads((tmp_path / 'pred.pkl').read_bytes())
    assert len(samples) == len((data / 'annotations/seg_val.txt').read_text().split())
    both, either = np.zeros(len(NEU_DET_CLASSES) + 1), np.zeros(len(NEU_DET_CLASSES) + 1)
    for sample in samples:
        pred, gt = sample['pred_sem_seg']['data'].numpy(), sample['gt_sem_seg']['data'].numpy()
        assert pred.shape == gt.shape  # scored at the label's size
        for c in range(len(both)):
            both[c] += ((pred == c) & (gt == c)).sum()
            either[c] += ((pred == c) | (gt == c)).sum()
    seen = either > 0
    expected = 100 * (both[seen] / either[seen]).mean()
    assert miou and float(miou.group(1)) == pytest.approx(expected, abs=0.006)  # printed .2f
    state = torch.load(tmp_path / 'mgd' / 'iter_4.pth', map_location='cpu', weights_only=True)
    classes = state['state_dict']['architecture.decode_head.conv_seg.weight'].shape[0]
    assert classes == len(NEU_DET_CLASSES) + 1  # background and the six defects
