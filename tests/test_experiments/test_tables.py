"""The experiment tables: mean and sample standard deviation by hand, missing values, cells."""

from __future__ import annotations

import json
import math

from mgd.experiments.tables import format_cell, markdown_table, mean_std, summarize, write_results


def test_mean_and_sample_std_by_hand():
    mean, std = mean_std([0.20, 0.22, 0.27])
    assert math.isclose(mean, 0.23)
    # sample variance: ((-.03)^2 + (-.01)^2 + .04^2) / 2 = 0.0013
    assert math.isclose(std, math.sqrt(0.0013))


def test_missing_and_negative_values_are_dropped():
    # CocoMetric reports -1 for an empty size range; NaN is what a run without the key gives
    assert mean_std([0.3, -1.0, float('nan')]) == (0.3, None)
    mean, std = mean_std([])
    assert math.isnan(mean) and std is None


def test_summary_is_in_percent_with_the_seed_count():
    runs = {
        'baseline': [{'coco/bbox_mAP': 0.20}, {'coco/bbox_mAP': 0.22}],
        'teacher': [{'coco/bbox_mAP': 0.261}],
    }
    summary = summarize(runs, [('mAP', 'coco/bbox_mAP'), ('AP50', 'coco/bbox_mAP_50')])
    assert summary['baseline']['seeds'] == 2
    mean, std = summary['baseline']['mAP']
    assert math.isclose(mean, 21.0) and math.isclose(std, 100 * math.sqrt(0.0002))
    assert summary['teacher']['mAP'] == (26.1, None)
    assert math.isnan(summary['teacher']['AP50'][0])


def test_cells_and_table():
    assert format_cell(41.25, 0.31) == '41.2 ± 0.3'
    assert format_cell(41.25, None) == '41.2'
    assert format_cell(float('nan'), None) == 'n/a'
    summary = {'mgd': {'seeds': 3, 'mAP': (26.6, 0.6)}}
    table = markdown_table(summary, ['mAP'], {'mgd': {'params': '1.14 M'}}, ['params'])
    assert table.splitlines() == [
        '| model | seeds | params | mAP |',
        '|---|---|---|---|',
        '| mgd | 3 | 1.14 M | 26.6 ± 0.6 |',
    ]


def test_results_files(tmp_path):
    summary = {'mgd': {'seeds': 1, 'mAP': (26.6, None)}}
    path = write_results(str(tmp_path), 'TABLE\n', {'mgd_seed0': {'m': 1}}, summary, 90, seeds=1)
    assert open(path).read() == 'TABLE\n'
    saved = json.loads((tmp_path / 'results.json').read_text())
    assert saved['info']['minutes'] == 1.5 and saved['info']['seeds'] == 1
    assert saved['runs'] == {'mgd_seed0': {'m': 1}}
    assert saved['summary']['mgd']['mAP'] == [26.6, None]


def test_three_seeds_with_a_missing_and_an_empty_metric_by_hand():
    """Seed 1 has no AP_S (an empty size range: CocoMetric writes -1), seed 2 no AP50 at all:
    each mean and sample std is over the seeds that have the value."""
    runs = {
        'mgd': [
            {'coco/bbox_mAP': 0.262, 'coco/bbox_mAP_50': 0.60, 'coco/bbox_mAP_s': 0.18},
            {'coco/bbox_mAP': 0.266, 'coco/bbox_mAP_50': 0.64, 'coco/bbox_mAP_s': -1.0},
            {'coco/bbox_mAP': 0.270, 'coco/bbox_mAP_s': 0.22},
        ]
    }
    columns = [('mAP', 'coco/bbox_mAP'), ('AP50', 'coco/bbox_mAP_50'), ('AP_S', 'coco/bbox_mAP_s')]
    row = summarize(runs, columns)['mgd']
    assert row['seeds'] == 3
    # mAP: mean 26.6; deviations -0.4, 0, +0.4 -> sample variance (0.16 + 0.16) / 2 = 0.16
    assert math.isclose(row['mAP'][0], 26.6) and math.isclose(row['mAP'][1], 0.4)
    # AP50 over seeds 0 and 1: 62.0 ± sqrt((4 + 4) / 1) = 2.83
    assert math.isclose(row['AP50'][0], 62.0) and math.isclose(row['AP50'][1], math.sqrt(8))
    # AP_S over seeds 0 and 2: 20.0 ± sqrt(8)
    assert math.isclose(row['AP_S'][0], 20.0) and math.isclose(row['AP_S'][1], math.sqrt(8))
    assert markdown_table({'mgd': row}, ['mAP', 'AP50', 'AP_S']).splitlines()[-1] == (
        '| mgd | 3 | 26.6 ± 0.4 | 62.0 ± 2.8 | 20.0 ± 2.8 |'
    )
