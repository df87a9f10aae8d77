"""``tools/test.py``'s COCO metrics against a hand count: a stand-in detector whose predictions
are chosen from each image's ground truth, on a 4-image set, through the same config path,
metric, printout and ``test_metrics.json`` as a trained detector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]

ORACLE = '''
import torch
from mmdet.models.detectors import BaseDetector
from mmdet.registry import MODELS
from mmengine.structures import InstanceData


@MODELS.register_module()
class OracleDetector(BaseDetector):
    """Per image: every 'rust' box at score 0.8, the first 'dent' box at 0.9, and a box
    over no object at 0.95 called 'dent' (a false positive ranked above every true one)."""

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def predict(self, batch_inputs, batch_data_samples, rescale=True):
        for sample in batch_data_samples:
            # loaded after the Resize, as mmdet's test pipelines do: the original image's
            boxes, labels = sample.gt_instances.bboxes, sample.gt_instances.labels
            dent = (labels == 0).nonzero()[:1, 0]
            rust = (labels == 1).nonzero()[:, 0]
            keep = torch.cat([dent, rust])
            pred = InstanceData()
            pred.bboxes = torch.cat([boxes[keep], boxes.new_tensor([[50, 2, 62, 10]])])
            pred.labels = torch.cat([labels[keep], labels.new_tensor([0])])
            pred.scores = torch.cat(
                [boxes.new_tensor([0.9] * len(dent) + [0.8] * len(rust)), boxes.new_tensor([0.95])]
            )
            sample.pred_instances = pred
        return batch_data_samples

    def loss(self, batch_inputs, batch_data_samples):
        raise NotImplementedError

    def _forward(self, batch_inputs, batch_data_samples=None):
        raise NotImplementedError

    def extract_feat(self, batch_inputs):
        raise NotImplementedError
'''

CONFIG = """
default_scope = 'mmdet'
custom_imports = dict(imports=['oracle_detector'], allow_failed_imports=False)
model = dict(type='OracleDetector', data_preprocessor=dict(type='DetDataPreprocessor'))
test_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CocoDataset',
        data_root={root!r},
        ann_file='annotations/instances_test.json',
        data_prefix=dict(img='images/'),
        metainfo=dict(classes=('dent', 'rust')),
        test_mode=True,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(128, 128), keep_ratio=True),  # 64x48 -> 128x96
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='PackDetInputs',
                 meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
        ],
    ),
)
test_evaluator = dict(
    type='CocoMetric',
    ann_file={root!r} + 'annotations/instances_test.json',
    metric='bbox',
    classwise=True,
)
test_cfg = dict(type='TestLoop')
"""


def boxes_of(image: int) -> list[tuple[str, list[int]]]:
    """Two 'dent' boxes and one 'rust' box per image, apart from each other and from the
    false positive at (50, 2, 62, 10)."""
    return [
        ('dent', [2 + image, 4, 12, 10]),  # x, y, w, h
        ('dent', [20, 20 + image, 10, 12]),
        ('rust', [4, 30, 14, 12 + image]),
    ]


@pytest.fixture(scope='module')
def oracle(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp('metrics_by_hand')
    (base / 'data' / 'images').mkdir(parents=True)
    (base / 'data' / 'annotations').mkdir()
    images, annotations = [], []
    for i in range(4):
        name = f'part_{i}.jpg'
        cv2.imwrite(str(base / 'data' / 'images' / name), np.full((48, 64, 3), 120, np.uint8))
        images.append(dict(id=i + 1, file_name=name, width=64, height=48))
        for label, box in boxes_of(i):
            annotations.append(dict(
                id=len(annotations) + 1, image_id=i + 1, category_id=1 + (label == 'rust'),
                bbox=box, area=box[2] * box[3], iscrowd=0))  # fmt: skip
    coco = dict(images=images, annotations=annotations,
                categories=[dict(id=1, name='dent'), dict(id=2, name='rust')])  # fmt: skip
    (base / 'data' / 'annotations' / 'instances_test.json').write_text(json.dumps(coco))
    (base / 'oracle_detector.py').write_text(ORACLE)
    (base / 'oracle.py').write_text(textwrap.dedent(CONFIG.format(root=f'{base / "data"}/')))
    torch.save({'state_dict': {'unused': torch.zeros(1)}, 'meta': {}}, base / 'oracle.pth')
    return base


def test_test_tool_prints_the_hand_counted_coco_metrics(oracle):
    """By hand, per class, boxes exact (every IoU threshold alike):

    - rust: 4 of 4 objects found, no false positive: AP = 1.
    - dent: 8 objects; ranked by score, 4 false positives (0.95), then 4 hits (0.9): precision
      1/5, 2/6, 3/7, 4/8 at recall 1/8 .. 4/8, so the interpolated precision is 0.5 up to recall
      0.5 and 0 beyond: COCO's 101 recall points give AP = 51 x 0.5 / 101.
    - mAP = the mean of the two; AP50 = AP75 = mAP; every box is under 32 x 32 px: AP_S = mAP,
      AP_M and AP_L are -1 (no object of those sizes).
    """
    env = dict(os.environ, PYTHONPATH=f'{oracle}{os.pathsep}{os.environ.get("PYTHONPATH", "")}')
    result = subprocess.run(
        [sys.executable, 'tools/test.py', str(oracle / 'oracle.py'), str(oracle / 'oracle.pth'),
         '--work-dir', str(oracle / 'work'), '--out', str(oracle / 'pred.pkl')],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    dent, rust = 51 * 0.5 / 101, 1.0
    expected = {
        'coco/dent_precision': dent,
        'coco/rust_precision': rust,
        'coco/bbox_mAP': (dent + rust) / 2,
        'coco/bbox_mAP_50': (dent + rust) / 2,
        'coco/bbox_mAP_75': (dent + rust) / 2,
        'coco/bbox_mAP_s': (dent + rust) / 2,
        'coco/bbox_mAP_m': -1.0,
        'coco/bbox_mAP_l': -1.0,
    }
    metrics = json.loads((oracle / 'work' / 'test_metrics.json').read_text())
    printed = dict(
        line.split(': ', 1) for line in result.stdout.splitlines() if line.startswith('coco/')
    )
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=6e-4), key  # metrics rounded to 3 places
        assert float(printed[key]) == metrics[key], key
    assert metrics['checkpoint'] == str(oracle / 'oracle.pth')
    assert (oracle / 'pred.pkl').is_file()
