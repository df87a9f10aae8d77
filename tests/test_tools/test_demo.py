"""The shortened demo, run as a user would: data → teacher → baseline → MGD through
``tools/dist_train.sh`` with 2 processes → ``tools/test.py``; then the tools on its outputs."""

import json
import os.path as osp
import re
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import find_latest_checkpoint
from mmrazor.registry import MODELS
from utils import run_tool as run

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STUDENT_CONFIG = osp.join(ROOT, 'configs/demo/retinanet_r18-w16_demo.py')


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """Runs ``tools/demo.py --quick`` once; returns (work_dir, stdout)."""
    base = tmp_path_factory.mktemp('demo')
    work_dir, data_root = str(base / 'work'), str(base / 'data')
    out = run(
        sys.executable, 'tools/demo.py', '--quick', '--work-dir', work_dir, '--data-root', data_root
    )
    return work_dir, out


def test_demo_prints_the_comparison_table(demo):
    work_dir, out = demo
    rows = re.findall(r'^\| (\w+) \| (\d+) \| ([\d.]+) M \| [\d.n/a]+ \|(.*)\|$', out, re.M)
    assert [r[0] for r in rows] == ['teacher', 'baseline', 'mgd', 'inherit_only']
    assert all(seeds == '1' for _, seeds, _, _ in rows)
    params = {name: float(p) for name, _, p, _ in rows}
    assert params['teacher'] > 2 * params['baseline']  # the student is the smaller network
    assert params['baseline'] == params['mgd'] == params['inherit_only']
    with open(osp.join(work_dir, 'results.md')) as f:
        tables = f.read()
    assert tables.count('| inherit_only | 1 |') == 2  # the main and the per-class table
    per_class = tables[tables.index('| model | seeds | crazing | inclusion | patches |') :]
    assert per_class.count('| inherit_only | 1 |') == 1 and 'n/a' not in per_class
    with open(osp.join(work_dir, 'results.json')) as f:
        results = json.load(f)
    assert set(results['runs']) == {'teacher', 'baseline_seed0', 'mgd_seed0', 'inherit_only_seed0'}
    mgd = results['runs']['mgd_seed0']['val']
    assert results['summary']['val']['mgd']['mAP'][0] == pytest.approx(100 * mgd['coco/bbox_mAP'])


def test_inherit_only_trains_with_a_zero_mgd_loss(demo):
    work_dir, _ = demo
    with open(osp.join(work_dir, 'train_inherit_only_seed0.log')) as f:
        log = f.read()
    assert re.search(r'Inheriting strategy: copied \d+ tensors', log)
    losses = re.findall(r'distill\.loss_mgd_neck0: ([\d.e+-]+)', log)
    assert losses and all(float(v) == 0 for v in losses)


def test_demo_writes_attention_curves_and_complexity(demo):
    work_dir, out = demo
    for name in ('attention.png', 'curves.png'):
        path = osp.join(work_dir, 'analysis', name)
        assert f'analysis/{name}' in out
        with open(path, 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    with open(osp.join(work_dir, 'analysis', 'complexity.md')) as f:
        table = f.read()
    for name in ('teacher', 'baseline_seed0', 'mgd_seed0', 'inherit_only_seed0'):
        assert re.search(rf'^\| {name} \|', table, re.M)


def test_mgd_run_is_distributed_with_inheriting(demo):
    work_dir, out = demo
    assert 'tools/dist_train.sh with 2 processes' in out
    with open(osp.join(work_dir, 'train_mgd_seed0.log')) as f:
        log = f.read()
    assert (
        'Distributed training: True' in log and 'GPU number: 2' in log
    )  # mmengine's words for world size
    assert re.search(r'Inheriting strategy: copied \d+ tensors', log)
    # one distill loss per FPN level next to the student's losses
    for level in range(5):
        assert f'distill.loss_mgd_neck{level}' in log
    assert 'student.loss_cls' in log


def test_test_tool_prints_coco_map(demo):
    work_dir, _ = demo
    for name in ('teacher', 'baseline_seed0', 'mgd_seed0'):
        with open(osp.join(work_dir, f'test_{name}_val.log')) as f:
            log = f.read()
        assert re.search(r'^coco/bbox_mAP: [\d.]+$', log, re.M), f'{name}: no COCO mAP printed'
        with open(osp.join(work_dir, name, 'test_val', 'test_metrics.json')) as f:
            metrics = json.load(f)
        assert 0 <= metrics['coco/bbox_mAP'] <= 1


def test_convert_to_student_loads_strictly(demo, tmp_path):
    work_dir, _ = demo
    distill_ckpt = find_latest_checkpoint(osp.join(work_dir, 'mgd_seed0'))
    out = str(tmp_path / 'student.pth')
    run(sys.executable, 'tools/convert_to_student.py', distill_ckpt, out)

    converted = torch.load(out, map_location='cpu')
    assert set(converted) == {'state_dict', 'meta'}
    assert not any(
        k.startswith(('teacher', 'distiller', 'architecture')) for k in converted['state_dict']
    )
    cfg = Config.fromfile(STUDENT_CONFIG)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        student = MODELS.build(cfg.model)
    student.load_state_dict(converted['state_dict'], strict=True)
    original = torch.load(distill_ckpt, map_location='cpu')['state_dict']
    for key, value in converted['state_dict'].items():
        assert torch.equal(value, original[f'architecture.{key}'])


def test_converted_student_tests_with_the_stock_student_config(demo, tmp_path):
    work_dir, _ = demo
    out = str(tmp_path / 'student.pth')
    run(
        sys.executable,
        'tools/convert_to_student.py',
        find_latest_checkpoint(osp.join(work_dir, 'mgd_seed0')),
        out,
    )
    data_root = osp.join(osp.dirname(work_dir), 'data')
    ann = osp.join(data_root, 'annotations', 'instances_val.json')
    stdout = run(
        sys.executable,
        'tools/test.py',
        STUDENT_CONFIG,
        out,
        '--work-dir',
        str(tmp_path),
        '--cfg-options',
        f'test_dataloader.dataset.data_root={data_root}/',
        f'test_evaluator.ann_file={ann}',
        'model.test_cfg.score_thr=0.0',
    )
    assert re.search(r'^coco/bbox_mAP: [\d.]+$', stdout, re.M)
