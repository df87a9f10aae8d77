"""mgd.analysis.results and tools/analysis/results_table.py: test metrics as a table."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys

import pytest
from demo_models import REPO

from mgd.analysis.results import results_table

FULL = {
    'coco/bbox_mAP': 0.123,
    'coco/bbox_mAP_50': 0.25,
    'coco/bbox_mAP_75': 0.1,
    'coco/bbox_mAP_s': 0.0,
    'coco/bbox_mAP_m': 0.2,
    'coco/bbox_mAP_l': -1.0,
}


def work_dir(tmp_path, name: str, metrics: dict):
    folder = tmp_path / name
    folder.mkdir()
    (folder / 'test_metrics.json').write_text(json.dumps(dict(metrics, checkpoint='x.pth')))
    return str(folder)


def test_detection_table_in_percent_with_na_for_missing(tmp_path):
    table = results_table([work_dir(tmp_path, 'mgd', FULL), work_dir(tmp_path, 'teacher', {})])
    assert table.splitlines() == [
        '| model | mAP | AP50 | AP75 | AP_S | AP_M | AP_L |',
        '|---|---|---|---|---|---|---|',
        '| mgd | 12.3 | 25.0 | 10.0 | 0.0 | 20.0 | n/a |',  # -1: no large ground truth
        '| teacher | n/a | n/a | n/a | n/a | n/a | n/a |',  # a 1-epoch run can report nothing
    ]


def test_mask_and_classification_columns(tmp_path):
    segm = dict(FULL, **{'coco/segm_mAP': 0.5})
    lines = results_table([work_dir(tmp_path, 'a', segm)], names=['solo']).splitlines()
    assert lines[0].endswith(
        '| mask mAP | mask AP50 | mask AP75 | mask AP_S | mask AP_M | ' 'mask AP_L |'
    )
    assert lines[2].endswith('| 50.0 | n/a | n/a | n/a | n/a | n/a |')
    accuracy = {'accuracy/top1': 71.687, 'accuracy/top5': 90.3}  # mmpretrain reports %
    table = results_table(
        [work_dir(tmp_path, 'b', accuracy), work_dir(tmp_path, 'c', {})],
        names=['r18', 'r18 (1 epoch)'],
    )
    assert table.splitlines() == [
        '| model | top-1 | top-5 |',
        '|---|---|---|',
        '| r18 | 71.7 | 90.3 |',
        '| r18 (1 epoch) | n/a | n/a |',
    ]
    with pytest.raises(ValueError, match='1 names for 2 work dirs'):
        results_table([work_dir(tmp_path, 'd', {}), work_dir(tmp_path, 'e', {})], names=['x'])


def test_results_table_command(tmp_path):
    dirs = [work_dir(tmp_path, 'baseline', {}), work_dir(tmp_path, 'mgd', FULL)]
    out = tmp_path / 'tables' / 'results.md'
    command = [sys.executable, 'tools/analysis/results_table.py', *dirs, '--out', str(out)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == out.read_text()
    assert result.stdout.splitlines()[2:] == [
        '| baseline | n/a | n/a | n/a | n/a | n/a | n/a |',
        '| mgd | 12.3 | 25.0 | 10.0 | 0.0 | 20.0 | n/a |',
    ]


def test_results_table_command_names_what_to_run(tmp_path, monkeypatch):
    main = runpy.run_path(str(REPO / 'tools/analysis/results_table.py'))['main']
    missing = str(tmp_path / 'untested')
    monkeypatch.setattr(sys, 'argv', ['results_table.py', missing])
    with pytest.raises(SystemExit) as info:
        main()
    assert str(info.value) == (
        f"error: '{missing}/test_metrics.json' does not exist: run "
        f'tools/test.py CONFIG CHECKPOINT --work-dir {missing} first'
    )
