"""The runner's YOLO path, run as a user would: ``tools/demo.py --family yolov5 --quick``
(YOLOv5-s teacher, YOLOv5-n students: baseline, MGD, output KD, both), then the tools on its
outputs: convert the MGD student and test it with the stock student config, draw detections,
measure complexity."""

import json
import os
import os.path as osp
import re
import sys

import pytest
import torch
from mmengine.runner import find_latest_checkpoint
from utils import run_tool as run

STUDENT_CONFIG = 'configs/neu_det/yolov5_n_scratch_neu_det.py'
ROWS = ['teacher', 'baseline', 'mgd', 'kd', 'mgd_kd']


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """Runs ``tools/demo.py --family yolov5 --quick`` once; returns (work_dir, data_root, out)."""
    base = tmp_path_factory.mktemp('yolo')
    work_dir, data_root = str(base / 'work'), str(base / 'data')
    args = ['--family', 'yolov5', '--quick', '--work-dir', work_dir, '--data-root', data_root]
    return work_dir, data_root, run(sys.executable, 'tools/demo.py', *args)


def test_prints_one_row_per_yolo_run(demo):
    work_dir, _, out = demo
    rows = re.findall(r'^\| (\w+) \| (\d+) \| ([\d.]+) M \| [\d.na/]+ \|(.*)\|$', out, re.M)
    assert [r[0] for r in rows] == ROWS
    params = {name: float(p) for name, _, p, _ in rows}
    assert params['teacher'] > 3 * params['baseline']  # width 0.5 vs 0.25
    assert len({params[row] for row in ROWS[1:]}) == 1
    with open(osp.join(work_dir, 'results.json')) as f:
        results = json.load(f)
    assert set(results['runs']) == {'teacher', *(f'{row}_seed0' for row in ROWS[1:])}


@pytest.mark.parametrize(
    'row, losses',
    [
        ('baseline', set()),
        ('mgd', {f'loss_mgd_neck{i}' for i in range(3)}),
        ('kd', {'loss_kd_yolov5'}),
        ('mgd_kd', {'loss_kd_yolov5', *(f'loss_mgd_neck{i}' for i in range(3))}),
    ],
)
def test_each_row_trains_with_its_losses(demo, row, losses):
    work_dir, _, _ = demo
    with open(osp.join(work_dir, f'train_{row}_seed0.log')) as f:
        log = f.read()
    found = set(re.findall(r'distill\.(loss_\w+): ', log))
    assert found == losses
    assert re.search(r'(student\.)?loss_obj: [\d.]+', log)
    if losses:  # the trained teacher, loaded
        assert osp.join(work_dir, 'teacher', 'epoch_1.pth') in log


def test_converted_student_tests_and_detects_with_the_stock_config(demo, tmp_path):
    work_dir, data_root, _ = demo
    student = str(tmp_path / 'student.pth')
    run(
        sys.executable,
        'tools/convert_to_student.py',
        find_latest_checkpoint(osp.join(work_dir, 'mgd_seed0')),
        student,
    )
    state = torch.load(student, map_location='cpu')['state_dict']
    assert not any(k.startswith(('teacher', 'distiller', 'architecture')) for k in state)
    out = run(
        sys.executable,
        'tools/test.py',
        STUDENT_CONFIG,
        student,
        '--work-dir',
        str(tmp_path / 'test'),
        '--cfg-options',
        f'test_dataloader.dataset.data_root={data_root}/',
        'test_dataloader.dataset.ann_file=annotations/instances_val.json',
        'model.test_cfg.score_thr=0.0',
    )
    assert re.search(r'^coco/bbox_mAP: [\d.]+$', out, re.M)
    images = osp.join(data_root, 'images')
    one = osp.join(images, sorted(os.listdir(images))[0])
    out = run(
        sys.executable,
        'tools/infer.py',
        STUDENT_CONFIG,
        student,
        one,
        '--out',
        str(tmp_path / 'i'),
        '--score-thr',
        '0.0',
    )
    assert re.search(r': \d+ detections with score > 0.0', out)
    drawn = tmp_path / 'i' / osp.basename(one)
    assert drawn.read_bytes()[:2] == b'\xff\xd8' or drawn.stat().st_size > 0


def test_complexity_of_the_yolo_pair(demo):
    out = run(
        sys.executable,
        'tools/analysis/complexity.py',
        'configs/neu_det/yolov5_s_scratch_neu_det.py',
        STUDENT_CONFIG,
        '--names',
        'teacher',
        'student',
        '--runs',
        '1',
        '--warmup',
        '0',
    )
    params = dict(re.findall(r'^\| (teacher|student) \| ([\d.]+) M', out, re.M))
    assert set(params) == {'teacher', 'student'}
    assert float(params['teacher']) > 3 * float(params['student'])
