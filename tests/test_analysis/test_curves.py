"""mgd.analysis.curves and tools/analysis/plot_curves.py: curves from mmengine JSON logs."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys

import matplotlib.image
import pytest
from demo_models import REPO

from mgd.analysis.curves import read_curves


def write_launch(work_dir, timestamp: str, records: list[dict]) -> None:
    """One launch's ``<timestamp>/vis_data/scalars.json`` as mmengine writes it."""
    folder = work_dir / timestamp / 'vis_data'
    folder.mkdir(parents=True)
    (folder / 'scalars.json').write_text(''.join(json.dumps(r) + '\n' for r in records))


def train(iteration: int, epoch: int, student: tuple, distill: tuple) -> dict:
    record = {
        'lr': 0.01,
        'loss': sum(student) + sum(distill),
        'epoch': epoch,
        'iter': iteration,
        'step': iteration,
        'grad_norm': 3.0,
    }
    record.update({'student.loss_cls': student[0], 'student.loss_bbox': student[1]})
    record.update({f'distill.loss_mgd_neck{i}': v for i, v in enumerate(distill)})
    return record


@pytest.fixture
def distill_run(tmp_path):
    """A distillation run resumed once: the second launch re-runs iteration 30."""
    run = tmp_path / 'mgd'
    # a launch that crashed before logging: a folder without vis_data/scalars.json
    (run / '20240101_090000').mkdir(parents=True)
    write_launch(
        run,
        '20240101_100000',
        [
            train(10, 1, (1.0, 0.5), (0.25, 0.25)),
            train(20, 1, (0.75, 0.5), (0.25, 0.0)),
            {'coco/bbox_mAP': 0.125, 'coco/bbox_mAP_50': 0.3, 'data_time': 0.1, 'step': 1},
            train(30, 2, (9.0, 9.0), (9.0, 9.0)),
        ],
    )
    with open(run / '20240101_100000' / 'vis_data' / 'scalars.json', 'a') as f:
        f.write('{"lr": 0.01, "loss": ')  # a line cut off by the crash
    write_launch(
        run,
        '20240101_120000',
        [  # the resumed launch, later in time
            train(30, 2, (0.5, 0.25), (0.125, 0.0)),
            {'coco/bbox_mAP': 0.25, 'step': 2},
        ],
    )
    return run


@pytest.fixture
def plain_run(tmp_path):
    run = tmp_path / 'baseline'
    write_launch(
        run,
        '20240101_100000',
        [
            {
                'lr': 0.01,
                'loss': 2.0,
                'loss_cls': 1.5,
                'loss_bbox': 0.5,
                'epoch': 1,
                'iter': 10,
                'step': 10,
            },
            {'coco/bbox_mAP': 0.0625, 'step': 1},
        ],
    )
    return run


def test_resumed_launches_are_concatenated_in_time_order(distill_run):
    curves = read_curves(str(distill_run))
    assert curves.task_loss == [(10, 1.5), (20, 1.25), (30, 0.75)]
    assert curves.distill_loss == [(10, 0.5), (20, 0.25), (30, 0.125)]
    assert curves.score == [(1, 12.5), (2, 25.0)]  # in %
    assert curves.score_key == 'coco/bbox_mAP' and curves.by_epoch


def test_a_plain_run_has_loss_as_task_loss_and_no_distill_loss(plain_run):
    curves = read_curves(str(plain_run))
    assert curves.task_loss == [(10, 2.0)]
    assert curves.distill_loss == []
    assert curves.score == [(1, 6.25)]


def test_plot_curves_command(distill_run, plain_run, tmp_path):
    out = tmp_path / 'curves.png'
    command = [
        sys.executable,
        'tools/analysis/plot_curves.py',
        str(plain_run),
        str(distill_run),
        '--names',
        'baseline',
        'mgd',
        '--out',
        str(out),
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert matplotlib.image.imread(out).shape[:2] == (400, 1500)  # 3 panels of 5 x 4 in, 100 dpi


def test_plot_curves_command_names_a_missing_work_dir(tmp_path, monkeypatch):
    main = runpy.run_path(str(REPO / 'tools/analysis/plot_curves.py'))['main']
    missing = str(tmp_path / 'nowhere')
    monkeypatch.setattr(sys, 'argv', ['plot_curves.py', missing, '--out', str(tmp_path / 'x.png')])
    with pytest.raises(SystemExit, match=f"error: work dir '{missing}' does not exist"):
        main()
    monkeypatch.setattr(sys, 'argv', ['plot_curves.py', str(tmp_path), '--out', 'x.png'])
    with pytest.raises(SystemExit, match='no \\*/vis_data/scalars.json in'):
        main()


def test_the_plotted_series_are_the_logged_values(distill_run, plain_run, tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    from mgd.analysis.curves import plot_curves

    plotted = []
    real_plot = Axes.plot

    def record(axis, xs, ys, *args, **kwargs):
        plotted.append((axis, kwargs.get('label'), list(xs), list(ys)))
        return real_plot(axis, xs, ys, *args, **kwargs)

    monkeypatch.setattr(Axes, 'plot', record)
    plot_curves([str(plain_run), str(distill_run)], str(tmp_path / 'c.png'), ['baseline', 'mgd'])
    series = {(axis.get_title(), label): (xs, ys) for axis, label, xs, ys in plotted}
    assert series == {
        ('task loss (student)', 'baseline'): ([10], [2.0]),
        ('task loss (student)', 'mgd'): ([10, 20, 30], [1.5, 1.25, 0.75]),
        ('distillation loss (sum of distill.*)', 'mgd'): ([10, 20, 30], [0.5, 0.25, 0.125]),
        ('validation coco/bbox_mAP', 'baseline'): ([1], [6.25]),
        ('validation coco/bbox_mAP', 'mgd'): ([1, 2], [12.5, 25.0]),
    }
