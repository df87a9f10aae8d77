"""Several runs' test metrics (``WORK_DIR/test_metrics.json`` from ``tools/test.py``) in one
Markdown table."""

from __future__ import annotations

import json
import os.path as osp
from collections.abc import Sequence

from mgd.utils.errors import ConfigError, MissingFileError

# (column, metric key, factor to %): CocoMetric reports fractions, mmpretrain's Accuracy %.
DETECTION_COLUMNS = [
    ('mAP', 'coco/bbox_mAP', 100),
    ('AP50', 'coco/bbox_mAP_50', 100),
    ('AP75', 'coco/bbox_mAP_75', 100),
    ('AP_S', 'coco/bbox_mAP_s', 100),
    ('AP_M', 'coco/bbox_mAP_m', 100),
    ('AP_L', 'coco/bbox_mAP_l', 100),
]
MASK_COLUMNS = [
    (f'mask {name}', key.replace('bbox', 'segm'), factor) for name, key, factor in DETECTION_COLUMNS
]
CLASSIFICATION_COLUMNS = [('top-1', 'accuracy/top1', 1), ('top-5', 'accuracy/top5', 1)]


def read_metrics(work_dir: str) -> dict:
    """``work_dir/test_metrics.json`` (a metrics dict), with an error naming what to run."""
    path = osp.join(work_dir, 'test_metrics.json')
    if not osp.isfile(path):
        raise MissingFileError(
            f'{path!r} does not exist: run tools/test.py CONFIG CHECKPOINT '
            f'--work-dir {work_dir} first'
        )
    with open(path) as f:
        return json.load(f)


def columns_for(metrics: Sequence[dict]) -> list[tuple[str, str, float]]:
    """The columns the runs need: classification if any run has ``accuracy/*`` and none
    ``coco/*``, else detection (plus mask columns if any run has ``coco/segm_*``).

    A barely trained detector can report no metric at all; it still gets detection columns.
    """
    keys = {key for m in metrics for key in m}
    has_coco = any(k.startswith('coco/') for k in keys)
    if not has_coco and any(k.startswith('accuracy/') for k in keys):
        return list(CLASSIFICATION_COLUMNS)
    columns = list(DETECTION_COLUMNS)
    if any(k.startswith('coco/segm_') for k in keys):
        columns += MASK_COLUMNS
    return columns


def format_metric(metrics: dict, key: str, factor: float) -> str:
    """``metrics[key]`` in % with one decimal, or ``n/a`` when missing (or not a number,
    e.g. CocoMetric's -1 for an area without ground truth)."""
    value = metrics.get(key)
    if not isinstance(value, int | float) or value < 0:
        return 'n/a'
    return f'{factor * value:.1f}'


def results_table(work_dirs: Sequence[str], names: Sequence[str] | None = None) -> str:
    """A Markdown table of the runs' test metrics in %, one row per run.

    Args:
        work_dirs: work dirs holding a ``test_metrics.json``.
        names: a row name per run (default: the work dirs' names).

    Returns:
        The table, ending with a newline.
    """
    if names is None:
        names = [osp.basename(osp.normpath(d)) for d in work_dirs]
    if len(names) != len(work_dirs):
        raise ConfigError(f'{len(names)} names for {len(work_dirs)} work dirs')
    metrics = [read_metrics(d) for d in work_dirs]
    columns = columns_for(metrics)
    lines = [
        '| model | ' + ' | '.join(c for c, _, _ in columns) + ' |',
        '|---|' + '---|' * len(columns),
    ]
    for name, values in zip(names, metrics):
        cells = [format_metric(values, key, factor) for _, key, factor in columns]
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'
