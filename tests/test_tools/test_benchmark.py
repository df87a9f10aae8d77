"""``tools/analysis/benchmark.py --quick`` runs (25 s alone on 2 cores) and prints its summary line;
the memory measure against a hand count."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mgd.analysis.benchmark import peak_memory, summary_line, timed_rounds

REPO = Path(__file__).resolve().parents[2]
LINE = re.compile(
    r'^mgd/mmrazor connector ([\d.]+) step ([\d.]+) step-half-teacher ([\d.]+) '
    r'memory ([\d.]+) step/sum-of-parts ([\d.]+) overhead ([\d.]+) overhead-cached ([\d.]+)$'
)


def test_quick_benchmark_prints_the_summary_line_last(tmp_path):
    result = subprocess.run(
        [sys.executable, 'tools/analysis/benchmark.py', '--quick', '--work-dir', str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    match = LINE.match(last)
    assert match, last
    numbers = json.loads((tmp_path / 'benchmark.json').read_text())
    assert summary_line(numbers) == last  # the JSON holds the printed numbers
    ratios = [*numbers['ratios'].values(), *numbers['overhead']['ratios'].values()]
    assert [round(v, 2) for v in ratios] == [float(g) for g in match.groups()]
    overhead = numbers['overhead']['step']  # the NEU-DET pair: student alone, MGD, MGD cached
    assert overhead.keys() == {'student', 'mgd', 'mgd_cached', 'mgd_block'}
    assert all(len(v['all']) == 5 and v['seconds'] > 0 for v in overhead.values())
    assert numbers['overhead']['ratios']['overhead-cached'] == pytest.approx(
        overhead['mgd_cached']['seconds'] / overhead['student']['seconds']
    )
    step = numbers['step']
    assert all(len(step[k]['all']) == 2 and step[k]['seconds'] > 0 for k in step)
    parts = step['student']['seconds'] + step['teacher']['seconds'] + step['mgd_block']['seconds']
    assert numbers['ratios']['step/sum-of-parts'] == pytest.approx(step['mgd']['seconds'] / parts)
    assert numbers['half_teacher_loss']['relative_difference'] < 0.03


def test_cpu_memory_counts_what_autograd_saves_once_per_storage():
    x = torch.randn(1000, requires_grad=True)  # a leaf: exp saves its output, mul both inputs
    weight = torch.nn.Parameter(torch.randn(1000))
    layer = torch.nn.Module()
    layer.weight = weight

    def forward() -> None:
        y = x.exp()  # saves y: 4000 bytes
        (y * weight).sum().backward()  # saves y (again, same storage) and the weight (excluded)

    assert peak_memory(forward, 'cpu', exclude=layer) == 4000
    assert peak_memory(forward, 'cpu') == 8000  # the parameter counted when not excluded


def test_rounds_are_interleaved_after_one_warm_up():
    order = []
    times = timed_rounds({'a': lambda: order.append('a'), 'b': lambda: order.append('b')}, 2, 'cpu')
    assert order == ['a', 'b'] * 3
    assert [len(v) for v in times.values()] == [2, 2]
