"""mgd.analysis.complexity and tools/analysis/complexity.py: parameters, FLOPs, latency."""

from __future__ import annotations

import runpy
import sys

import pytest
from demo_models import MGD_CFG, REPO, STUDENT_CFG, TEACHER_CFG
from torch import nn

from mgd.analysis.complexity import (
    Complexity,
    complexity_table,
    count_flops,
    count_params,
    measure_latency,
    reduction,
)
from mgd.analysis.models import build_model


class TinyNet(nn.Module):
    """A 1x1 convolution with the mmengine ``mode`` argument: known parameters and FLOPs."""

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, out_channels, 1, bias=False)

    def forward(self, inputs, mode='tensor'):
        assert mode == 'tensor'
        return self.conv(inputs)


def test_params_and_flops_of_a_known_network():
    wide, narrow = TinyNet(8), TinyNet(2)
    assert (count_params(wide), count_params(narrow)) == (24, 6)
    # a 1x1 conv makes C_in * C_out multiply-adds per pixel (mmengine counts one per FLOP)
    assert count_flops(wide, (3, 4, 5)) == 3 * 8 * 4 * 5
    assert count_flops(narrow, (3, 4, 5)) == 3 * 2 * 4 * 5
    latencies = measure_latency([wide, narrow], (3, 4, 5), runs=3, warmup=1)
    assert len(latencies) == 2 and all(0 < t < 1000 for t in latencies)


def test_table_reductions_are_against_the_first_row():
    assert reduction(24, 6) == 75.0 and reduction(10, 12) == -20.0
    rows = [
        Complexity('teacher', 24_000_000, 8_000_000_000, 40.0),
        Complexity('student', 6_000_000, 2_000_000_000, 30.0),
        Complexity('bigger', 30_000_000, 8_000_000_000, 50.0),
    ]
    lines = complexity_table(rows, (3, 224, 224), 'cpu').splitlines()
    assert len(lines) == 2 + 3
    assert 'FLOPs (3x224x224)' in lines[0] and 'latency (cpu, ms)' in lines[0]
    assert lines[2] == (
        '| teacher | 24.00 M | (reference) | 8.00 G | (reference) | 40.0 ' '| (reference) |'
    )
    assert lines[3] == '| student | 6.00 M | 75.0% | 2.00 G | 75.0% | 30.0 | 25.0% |'
    assert lines[4] == '| bigger | 30.00 M | -25.0% | 8.00 G | 0.0% | 50.0 | -25.0% |'


def test_complexity_command_measures_a_distillation_config_as_its_student(
    tmp_path, monkeypatch, capsys
):
    main = runpy.run_path(str(REPO / 'tools/analysis/complexity.py'))['main']
    out = tmp_path / 'complexity.md'
    argv = ['complexity.py', TEACHER_CFG, STUDENT_CFG, MGD_CFG, '--names', 'teacher',
            'baseline', 'mgd', '--shape', '3', '32', '48', '--runs', '1', '--warmup', '0',
            '--out', str(out)]  # fmt: skip
    monkeypatch.setattr(sys, 'argv', argv)
    main()
    table = capsys.readouterr().out
    assert table == out.read_text()
    lines = table.splitlines()
    assert 'FLOPs (3x32x48)' in lines[0]
    cells = [line.strip('| ').split(' | ') for line in lines[2:]]
    assert [row[0] for row in cells] == ['teacher', 'baseline', 'mgd']
    assert cells[1][1:5] == cells[2][1:5]  # params and FLOPs: the student's
    teacher = count_params(build_model(TEACHER_CFG, init_weights=False))
    student = count_params(build_model(STUDENT_CFG, init_weights=False))
    assert student < teacher
    assert cells[2][1] == f'{student / 1e6:.2f} M'
    assert cells[2][2] == f'{100 * (teacher - student) / teacher:.1f}%'
    assert all(float(row[5]) > 0 for row in cells)  # latency in ms
    monkeypatch.setattr(sys, 'argv', ['complexity.py', TEACHER_CFG, MGD_CFG, '--names', 'x', 'x'])
    with pytest.raises(SystemExit):
        main()
    assert 'need as many different names' in capsys.readouterr().err


def test_a_file_row_shows_its_size_and_no_flops():
    rows = [
        Complexity('teacher', 24_000_000, 8_000_000_000, 40.0),
        Complexity('int8', None, None, 10.0, file_mib=6.25),
    ]
    lines = complexity_table(rows, (3, 64, 64), 'cpu', threads=2).splitlines()
    assert lines[0].endswith('| latency (cpu, 2 threads, ms) | latency reduction | file (MiB) |')
    assert lines[1].count('|') == lines[0].count('|')
    assert lines[2] == ('| teacher | 24.00 M | (reference) | 8.00 G | (reference) | 40.0 '
                        '| (reference) | — |')  # fmt: skip
    assert lines[3] == '| int8 | — | — | — | — | 10.0 | 75.0% | 6.25 |'
