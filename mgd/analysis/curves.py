"""Training curves from mmengine's JSON logs: task loss, distillation loss and validation score.

mmengine writes one ``WORK_DIR/<timestamp>/vis_data/scalars.json`` per launch, one JSON object
a line: training lines carry ``iter`` (and ``epoch`` in epoch-based runs) and the losses;
validation lines carry the metrics and ``step``, which is the epoch in epoch-based runs (the
default ``log_metric_by_epoch``) and the iteration otherwise.
"""

from __future__ import annotations

import glob
import json
import os
import os.path as osp
from collections.abc import Sequence
from dataclasses import dataclass, field

from mgd.utils.errors import ConfigError, MissingFileError

# The first of these a validation line has is plotted.
SCORE_KEYS = ('coco/bbox_mAP', 'coco/segm_mAP', 'accuracy/top1')


@dataclass
class Curves:
    """One run's curves; every list of points is ``(x, value)`` sorted by x."""

    task_loss: list[tuple[int, float]] = field(default_factory=list)
    distill_loss: list[tuple[int, float]] = field(default_factory=list)
    score: list[tuple[int, float]] = field(default_factory=list)  # in %
    score_key: str | None = None
    by_epoch: bool = False  # score x is the epoch (else the iteration)


def log_files(work_dir: str) -> list[str]:
    """The ``scalars.json`` files of ``work_dir``'s launches, oldest first.

    ``work_dir`` may also be one launch's ``<timestamp>`` folder. Launches whose log holds
    nothing (e.g. a crash before the first logged iteration) have no file and are left out.
    """
    if not osp.isdir(work_dir):
        raise MissingFileError(f'work dir {work_dir!r} does not exist')
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    files += glob.glob(osp.join(work_dir, 'vis_data', 'scalars.json'))
    # Launch folders are named YYYYMMDD_HHMMSS: name order is time order.
    return sorted(files, key=lambda path: osp.basename(osp.dirname(osp.dirname(path))))


def read_log(path: str) -> list[dict]:
    """The JSON lines of one log (a line cut off by a crash is skipped)."""
    records = []
    with open(path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def task_loss(record: dict) -> float | None:
    """The student's task loss of a training line: the sum of ``student.*loss*`` for a
    distillation run, else ``loss`` minus any ``distill.*``; None without a loss."""
    student = [v for k, v in record.items() if k.startswith('student.') and 'loss' in k]
    if student:
        return float(sum(student))
    if 'loss' not in record:
        return None
    return float(record['loss'] - sum(v for k, v in record.items() if k.startswith('distill.')))


def distill_loss(record: dict) -> float | None:
    """The sum of a training line's ``distill.*`` losses; None when it has none."""
    values = [v for k, v in record.items() if k.startswith('distill.')]
    return float(sum(values)) if values else None


Points = list[tuple[int, float]]


def merge(points: Points, later: Points) -> Points:
    """Appends a later launch's points; a resumed launch replaces what it re-ran (x >= its
    first x)."""
    if not later:
        return points
    start = later[0][0]
    return [p for p in points if p[0] < start] + later


def read_curves(work_dir: str) -> Curves:
    """The curves of every launch in ``work_dir``, concatenated in time order.

    Raises:
        FileNotFoundError: ``work_dir`` has no ``*/vis_data/scalars.json``.
    """
    files = log_files(work_dir)
    if not files:
        raise MissingFileError(
            f'no */vis_data/scalars.json in {work_dir!r}: is it an '
            'mmengine work dir with at least one logged iteration?'
        )
    curves = Curves()
    for path in files:
        task, distill, score = [], [], []
        for record in read_log(path):
            if 'iter' in record and any(k == 'loss' or k.startswith('student.') for k in record):
                curves.by_epoch = curves.by_epoch or 'epoch' in record
                if (value := task_loss(record)) is not None:
                    task.append((record['iter'], value))
                if (value := distill_loss(record)) is not None:
                    distill.append((record['iter'], value))
                continue
            key = next((k for k in SCORE_KEYS if k in record), None)
            if key is not None and 'step' in record:
                curves.score_key = curves.score_key or key
                if key == curves.score_key:  # in %: CocoMetric reports fractions
                    scale = 100.0 if key.startswith('coco/') else 1.0
                    score.append((record['step'], scale * float(record[key])))
        curves.task_loss = merge(curves.task_loss, task)
        curves.distill_loss = merge(curves.distill_loss, distill)
        curves.score = merge(curves.score, score)
    return curves


def plot_curves(work_dirs: Sequence[str], out: str, names: Sequence[str] | None = None) -> str:
    """Writes one PNG with three panels (task loss, distillation loss, validation score),
    every run overlaid.

    Args:
        work_dirs: mmengine work dirs (each may hold several launches, e.g. a resume).
        out: the PNG to write (folders are created).
        names: a legend entry per run (default: the work dirs' names).

    Returns:
        ``out``.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if names is None:
        names = [osp.basename(osp.normpath(d)) for d in work_dirs]
    if len(names) != len(work_dirs):
        raise ConfigError(f'{len(names)} names for {len(work_dirs)} work dirs')
    runs = [(name, read_curves(d)) for name, d in zip(names, work_dirs)]

    fig, (ax_task, ax_distill, ax_score) = plt.subplots(1, 3, figsize=(15, 4), dpi=100)
    for name, curves in runs:
        for axis, points in (
            (ax_task, curves.task_loss),
            (ax_distill, curves.distill_loss),
            (ax_score, curves.score),
        ):
            if points:
                xs, ys = zip(*points)
                axis.plot(
                    xs, ys, marker='o' if len(points) < 20 else None, markersize=3, label=name
                )
    score_keys = sorted({c.score_key for _, c in runs if c.score_key})
    by_epoch = {c.by_epoch for _, c in runs if c.score}
    ax_task.set(title='task loss (student)', xlabel='iteration', ylabel='loss')
    ax_distill.set(title='distillation loss (sum of distill.*)', xlabel='iteration')
    ax_score.set(
        title=f'validation {" / ".join(score_keys) or "score"}',
        ylabel='%',
        xlabel='epoch'
        if by_epoch == {True}
        else 'iteration'
        if by_epoch == {False}
        else 'epoch or iteration',
    )
    ax_score.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axis in (ax_task, ax_distill, ax_score):
        if axis.lines:
            axis.legend(fontsize=8)
        else:
            axis.text(
                0.5,
                0.5,
                'nothing logged',
                ha='center',
                va='center',
                transform=axis.transAxes,
                color='grey',
            )
        axis.grid(alpha=0.3)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
