"""tools/neu_cls.py as a user runs it, on a tiny NEU-DET-like folder (6 classes x 10 images)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tool_run import run_tool

from mgd.datasets.metainfo import NEU_DET_CLASSES


def tiny_neu_det(root: Path) -> Path:
    """IMAGES/<class>_<n>.jpg, a class-dependent grey level so that something can be learnt."""
    images = root / 'IMAGES'
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for c, name in enumerate(NEU_DET_CLASSES):
        for n in range(1, 11):
            pixels = np.clip(40 * c + rng.normal(0, 10, (40, 40)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).convert('RGB').save(images / f'{name}_{n}.jpg')
    return root


def test_quick_experiment_writes_the_table_and_reuses_finished_runs(tmp_path):
    neu_det = tiny_neu_det(tmp_path / 'NEU-DET')
    work_dir, data = tmp_path / 'work', tmp_path / 'neu_cls'
    args = ['tools/neu_cls.py', '--quick', '--work-dir', work_dir, '--data-root', data]

    first = run_tool(*args, '--neu-det', neu_det)

    assert (data / 'meta' / 'val.txt').read_text().count('\n') == 12  # 2 per class
    table = (work_dir / 'results.md').read_text()
    for row in ('teacher_r18', 'teacher_r34', 'none', 'single', 'multi'):
        assert f'| {row} | 1 |' in table
    assert all(f'precision/{c}' in table and f'recall/{c}' in table for c in NEU_DET_CLASSES)
    results = json.loads((work_dir / 'results.json').read_text())
    assert set(results['runs']) == {
        'teacher_r18',
        'teacher_r34',
        'none_seed0',
        'single_seed0',
        'multi_seed0',
    }
    for metrics in results['runs'].values():
        assert 0 <= metrics['val']['accuracy/top1'] <= 100
    # the table's accuracy by hand: the multi-teacher student's val predictions, dumped by a
    # second tools/test.py of its checkpoint with the config the experiment tested it with
    (config,) = (work_dir / 'multi_seed0' / 'test_val').glob('*.py')
    run_tool('tools/test.py', config, work_dir / 'multi_seed0' / 'epoch_1.pth', '--work-dir',
             tmp_path / 'again', '--out', tmp_path / 'pred.pkl')  # fmt: skip
    samples = pickle.loads((tmp_path / 'pred.pkl').read_bytes())
    assert len(samples) == 12
    right = sum(int(s['pred_label'][0] == s['gt_label'][0]) for s in samples)
    top1 = results['runs']['multi_seed0']['val']['accuracy/top1']
    assert top1 == pytest.approx(100 * right / 12)
    # the students were distilled from the teachers trained here
    single_log = (work_dir / 'train_single_seed0.log').read_text()
    assert str(work_dir / 'teacher_r34' / 'epoch_1.pth') in single_log
    assert first.stdout.count('trained in') == 5

    again = run_tool(*args)  # the data is there: no --neu-det needed; nothing is retrained
    assert 'trained in' not in again.stdout
    assert (work_dir / 'results.md').read_text() == table


def test_without_data_or_neu_det_it_says_what_to_pass(tmp_path):
    result = run_tool(
        'tools/neu_cls.py',
        '--quick',
        '--data-root',
        tmp_path / 'none',
        '--work-dir',
        tmp_path / 'w',
        check=False,
    )
    assert result.returncode != 0
    assert 'pass --neu-det /path/to/NEU-DET' in result.stderr
