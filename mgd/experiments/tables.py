"""One experiment's runs (a teacher, students over several seeds, ablations) as one table.

``tools/demo.py`` trains and tests the runs; this module only reads their ``test.py`` metrics
(fractions, as ``CocoMetric`` reports them) and writes the comparison: every number in %, the
mean and the sample standard deviation over a row's seeds.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence

# (column, CocoMetric key)
COLUMNS = [
    ('mAP', 'coco/bbox_mAP'),
    ('AP50', 'coco/bbox_mAP_50'),
    ('AP_S', 'coco/bbox_mAP_s'),
    ('AP_M', 'coco/bbox_mAP_m'),
    ('AP_L', 'coco/bbox_mAP_l'),
]


def class_columns(classes: Sequence[str]) -> list[tuple[str, str]]:
    """Per-class AP columns (``CocoMetric(classwise=True)`` reports ``coco/<class>_precision``)."""
    return [(name, f'coco/{name}_precision') for name in classes]


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value); NaN values are dropped,
    a row without any value is NaN."""
    values = [v for v in values if isinstance(v, int | float) and math.isfinite(v) and v >= 0]
    if not values:
        return float('nan'), None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def summarize(
    runs: Mapping[str, Sequence[Mapping]], columns: Sequence[tuple[str, str]]
) -> dict[str, dict]:
    """Row name -> ``{'seeds': n, column: (mean %, std % or None)}``.

    Args:
        runs: row name -> the metrics dict of each of its runs (one per seed).
        columns: ``(column, metric key)`` pairs.
    """
    summary = {}
    for name, metrics in runs.items():
        row: dict = {'seeds': len(metrics)}
        for column, key in columns:
            mean, std = mean_std([m.get(key, float('nan')) for m in metrics])
            row[column] = (100 * mean, None if std is None else 100 * std)
        summary[name] = row
    return summary


def format_cell(mean: float, std: float | None) -> str:
    """``41.2 ± 0.3`` (or ``41.2`` for one seed, ``n/a`` without a value)."""
    if not math.isfinite(mean):
        return 'n/a'
    return f'{mean:.1f}' if std is None else f'{mean:.1f} ± {std:.1f}'


def markdown_table(
    summary: Mapping[str, Mapping],
    columns: Sequence[str],
    extra: Mapping[str, Mapping[str, str]] | None = None,
    extra_columns: Sequence[str] = (),
) -> str:
    """A Markdown table: one row per summary row, ``seeds``, the extra columns (e.g.
    parameters and latency, as text), then the metric columns."""
    extra = extra or {}
    header = ['model', 'seeds', *extra_columns, *columns]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, row in summary.items():
        cells = [name, str(row['seeds'])]
        cells += [extra.get(name, {}).get(c, '') for c in extra_columns]
        cells += [format_cell(*row[c]) for c in columns]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


TEACHER_MARGIN = 3.0  # mAP points: below it, the teacher is not clearly stronger


def verdict(
    by_row: Mapping[str, Sequence[Mapping]],
    split: str,
    key: str = 'coco/bbox_mAP',
    row: str = 'mgd',
) -> list[str]:
    """The reading of a table: is the teacher clearly stronger than the baseline (by
    ``TEACHER_MARGIN``), and MGD's gain over the baseline, per seed (row ``row`` minus
    ``baseline`` with the same seed), mean ± sample std, against the seed spread (the larger
    sample std of the two rows).

    Args:
        by_row: row name -> the metrics of each of its runs, in seed order.
        split: the split's name, for the text.
        key: the metric.
        row: the distilled row.
    """
    values = {
        name: [100 * m[key] for m in runs if math.isfinite(m.get(key, math.nan))]
        for name, runs in by_row.items()
    }
    teacher, baseline, distilled = (values.get(k, []) for k in ('teacher', 'baseline', row))
    lines = []
    if teacher and baseline:
        gap = teacher[0] - statistics.fmean(baseline)
        if gap < TEACHER_MARGIN:
            lines.append(
                f'teacher - baseline: {gap:+.1f} mAP ({split}): the teacher is not clearly '
                f'stronger than the baseline (< {TEACHER_MARGIN:g}), so this run does not test '
                'distillation: give the teacher more epochs, width or input size'
            )
        else:
            lines.append(f'teacher - baseline: {gap:+.1f} mAP ({split}): clearly stronger')
    gains = [d - b for d, b in zip(distilled, baseline)]
    if not gains:
        return [*lines, f'verdict ({split}): no {row} and baseline results to compare']
    mean = statistics.fmean(gains)
    if len(gains) == 1:
        return [
            *lines,
            f'verdict ({split}): {row} - baseline {mean:+.1f} mAP, one seed: no seed spread to '
            'compare with (--seeds 3)',
        ]
    spread = max(statistics.stdev(baseline), statistics.stdev(distilled))
    if mean > spread:
        reading = 'larger than the seed spread: MGD helps here'
    elif mean < -spread:
        reading = 'a loss larger than the seed spread: MGD hurts here'
    else:
        reading = 'within the seed spread: no clear effect'
    return [
        *lines,
        f'verdict ({split}): {row} - baseline {mean:+.1f} ± {statistics.stdev(gains):.1f} mAP '
        f'over {len(gains)} seeds; seed spread (sample std) {spread:.1f}: {reading}',
    ]


def write_results(
    work_dir: str, table: str, runs: Mapping, summary: Mapping, seconds: float, **info
) -> str:
    """Writes ``work_dir/results.md`` (the tables) and ``results.json`` (every run's metrics,
    the summary, and how it was run: the command, the machine, the minutes, ``info``).

    Returns:
        The path of ``results.md``.
    """
    import os
    import os.path as osp
    import platform
    import sys

    info = dict(
        command=' '.join(sys.argv),
        machine=f'{platform.machine()}, {os.cpu_count()} cores',
        minutes=round(seconds / 60, 1),
        **info,
    )
    path = osp.join(work_dir, 'results.md')
    with open(path, 'w') as f:
        f.write(table)
    write_json(osp.join(work_dir, 'results.json'), runs, summary, info)
    return path


def write_json(path: str, runs: Mapping, summary: Mapping, info: Mapping) -> None:
    """Every run's metrics, the summary and how it was run (command, machine, times)."""
    with open(path, 'w') as f:
        json.dump(dict(info=info, summary=summary, runs=runs), f, indent=1)
