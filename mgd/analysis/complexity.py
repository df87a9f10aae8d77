"""Parameters, FLOPs and latency of the models configs evaluate, as a Markdown table.

Parameters are counted by mmengine's ``parameter_count``, FLOPs by its ``FlopAnalyzer`` (one
multiply-add = one FLOP, the OpenMMLab convention) on the network's ``tensor`` forward:
backbone, neck and head, without the detectors' box decoding and NMS. Latency is measured on
the same forward.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from mmengine.config import Config
from torch import nn

from mgd.analysis.models import build_model
from mgd.utils.errors import ConfigError


class TensorForward(nn.Module):
    """``model(x, mode='tensor')`` as a one-input module, which the FLOP tracer needs."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor):
        return self.model(inputs, mode='tensor')


@dataclass
class Complexity:
    """What :func:`measure` reports for one model (latency in ms)."""

    name: str
    params: int
    flops: int
    latency_ms: float


def count_params(model: nn.Module) -> int:
    """All parameters (trainable or not)."""
    from mmengine.analysis import parameter_count

    return parameter_count(model)['']


def count_flops(model: nn.Module, shape: Sequence[int]) -> int:
    """FLOPs of the ``tensor`` forward on one input of ``shape`` (C, H, W)."""
    from mmengine.analysis import FlopAnalyzer

    device = next(model.parameters()).device
    inputs = torch.randn(1, *shape, device=device)
    analyzer = FlopAnalyzer(TensorForward(model).eval(), (inputs,))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return int(analyzer.total())


@torch.no_grad()
def measure_latency(
    models: Sequence[nn.Module], shape: Sequence[int], runs: int = 20, warmup: int = 5
) -> list[float]:
    """Median wall time in ms of each model's ``tensor`` forward of one image (batch 1).

    The models take turns, one forward each per round, so that load from other processes
    spreads over all of them instead of skewing one model's numbers.
    """
    inputs = [torch.randn(1, *shape, device=next(m.parameters()).device) for m in models]
    times: list[list[float]] = [[] for _ in models]
    for round_index in range(warmup + runs):
        for model, x, model_times in zip(models, inputs, times):
            cuda = x.device.type == 'cuda'
            if cuda:
                torch.cuda.synchronize(x.device)
            start = time.perf_counter()
            model(x, mode='tensor')
            if cuda:
                torch.cuda.synchronize(x.device)
            if round_index >= warmup:
                model_times.append(time.perf_counter() - start)
    return [1000 * statistics.median(t) if t else float('nan') for t in times]


def measure(
    configs: dict[str, str | Config],
    shape: Sequence[int] = (3, 224, 224),
    device: str = 'cpu',
    runs: int = 20,
    warmup: int = 5,
) -> list[Complexity]:
    """Parameters, FLOPs and latency of the models the configs evaluate (a distillation
    config's student). The weights stay random: none of the three depends on them.

    Args:
        configs: row name -> config (path), in table order.
        shape: the input (C, H, W).
        device: where the models run.
        runs: timed forwards per model (0: no latency, reported as nan).
        warmup: untimed forwards per model first.
    """
    models = {
        name: build_model(cfg, device=device, init_weights=False) for name, cfg in configs.items()
    }
    latencies = measure_latency(list(models.values()), shape, runs, warmup)
    return [
        Complexity(name, count_params(model), count_flops(model, shape), latency)
        for (name, model), latency in zip(models.items(), latencies)
    ]


def reduction(reference: float, value: float) -> float:
    """How much smaller ``value`` is than ``reference``, in % (negative: larger)."""
    return 100.0 * (reference - value) / reference


def complexity_table(rows: Sequence[Complexity], shape: Sequence[int], device: str) -> str:
    """A Markdown table, one row per model; later rows show their reduction against the first.

    Example row: ``| mgd | 1.23 M | 45.0% | 2.50 G | 30.0% | 12.3 | 20.0% |``.
    """
    if not rows:
        raise ConfigError('no models to compare')
    shape_str = 'x'.join(str(s) for s in shape)
    lines = [
        f'| model | params | params reduction | FLOPs ({shape_str}) | FLOPs reduction '
        f'| latency ({device}, ms) | latency reduction |',
        '|---|---|---|---|---|---|---|',
    ]
    first = rows[0]
    for row in rows:
        cells = [
            row.name,
            f'{row.params / 1e6:.2f} M',
            '',
            f'{row.flops / 1e9:.2f} G',
            '',
            f'{row.latency_ms:.1f}',
            '',
        ]
        if row is first:
            cells[2] = cells[4] = cells[6] = '(reference)'
        else:
            cells[2] = f'{reduction(first.params, row.params):.1f}%'
            cells[4] = f'{reduction(first.flops, row.flops):.1f}%'
            cells[6] = f'{reduction(first.latency_ms, row.latency_ms):.1f}%'
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'
