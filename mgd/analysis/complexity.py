"""Parameters, FLOPs and latency of the models configs evaluate, as a Markdown table.

Parameters are counted by mmengine's ``parameter_count``, FLOPs by its ``FlopAnalyzer`` (one
multiply-add = one FLOP, the OpenMMLab convention) on the network's ``tensor`` forward:
backbone, neck and head, without the detectors' box decoding and NMS. Latency is measured on
the same forward. A row may also be a network already built: an ONNX file under ONNX Runtime
(:class:`mgd.deploy.onnx_model.OnnxNetwork`), with its size on disk; its parameters and FLOPs
are not counted (the exporter folds BatchNorms into convolutions and stores equal weights once).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
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
    """What :func:`measure` reports for one model (latency in ms; ``params`` or ``flops``
    None: not counted, ``file_mib`` None: not a file)."""

    name: str
    params: int | None
    flops: int | None
    latency_ms: float
    file_mib: float | None = None


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


Network = nn.Module | Callable[[torch.Tensor], object]


@torch.no_grad()
def measure_latency(
    models: Sequence[Network], shape: Sequence[int], runs: int = 20, warmup: int = 5
) -> list[float]:
    """Median wall time in ms of each model's ``tensor`` forward of one image (batch 1); a
    network that is not an ``nn.Module`` (an ONNX file's) is called on the CPU image tensor.

    The models take turns, one forward each per round, so that load from other processes
    spreads over all of them instead of skewing one model's numbers.
    """
    calls = [
        (lambda x, m=m: m(x, mode='tensor')) if isinstance(m, nn.Module) else m for m in models
    ]
    inputs = [
        torch.randn(1, *shape, device=next(m.parameters()).device)
        if isinstance(m, nn.Module)
        else torch.randn(1, *shape)
        for m in models
    ]
    times: list[list[float]] = [[] for _ in models]
    for round_index in range(warmup + runs):
        for call, x, model_times in zip(calls, inputs, times):
            cuda = x.device.type == 'cuda'
            if cuda:
                torch.cuda.synchronize(x.device)
            start = time.perf_counter()
            call(x)
            if cuda:
                torch.cuda.synchronize(x.device)
            if round_index >= warmup:
                model_times.append(time.perf_counter() - start)
    return [1000 * statistics.median(t) if t else float('nan') for t in times]


def measure(
    configs: dict[str, str | Config | Network],
    shape: Sequence[int] = (3, 224, 224),
    device: str = 'cpu',
    runs: int = 20,
    warmup: int = 5,
) -> list[Complexity]:
    """Parameters, FLOPs and latency of the models the configs evaluate (a distillation
    config's student). The weights stay random: none of the three depends on them.

    Args:
        configs: row name -> config (path), in table order; or a network already built that
            is not an ``nn.Module`` (an ONNX file's: it has ``file_mib``).
        shape: the input (C, H, W).
        device: where the models built from configs run.
        runs: timed forwards per model (0: no latency, reported as nan).
        warmup: untimed forwards per model first.
    """
    models = {
        name: cfg if callable(cfg) else build_model(cfg, device=device, init_weights=False)
        for name, cfg in configs.items()
    }
    latencies = measure_latency(list(models.values()), shape, runs, warmup)
    rows = []
    for (name, model), latency in zip(models.items(), latencies):
        if isinstance(model, nn.Module):
            rows.append(Complexity(name, count_params(model), count_flops(model, shape), latency))
        else:
            rows.append(Complexity(name, None, None, latency, model.file_mib))
    return rows


def reduction(reference: float, value: float) -> float:
    """How much smaller ``value`` is than ``reference``, in % (negative: larger)."""
    return 100.0 * (reference - value) / reference


def complexity_table(
    rows: Sequence[Complexity], shape: Sequence[int], device: str, threads: int | None = None
) -> str:
    """A Markdown table, one row per model; later rows show their reduction against the first.
    A last column gives the size on disk when a row is a file; ``—``: not counted.

    Example row: ``| mgd | 1.23 M | 45.0% | 2.50 G | 30.0% | 12.3 | 20.0% |``.
    """
    if not rows:
        raise ConfigError('no models to compare')
    shape_str = 'x'.join(str(s) for s in shape)
    where = device if threads is None else f'{device}, {threads} threads'
    files = any(row.file_mib is not None for row in rows)
    lines = [
        f'| model | params | params reduction | FLOPs ({shape_str}) | FLOPs reduction '
        f'| latency ({where}, ms) | latency reduction |' + (' file (MiB) |' if files else ''),
        '|---|---|---|---|---|---|---|' + ('---|' if files else ''),
    ]
    first = rows[0]

    def versus(ours: float | None, reference: float | None) -> str:
        if ours is None or reference is None:
            return '—'
        return '(reference)' if row is first else f'{reduction(reference, ours):.1f}%'

    for row in rows:
        cells = [
            row.name,
            '—' if row.params is None else f'{row.params / 1e6:.2f} M',
            versus(row.params, first.params),
            '—' if row.flops is None else f'{row.flops / 1e9:.2f} G',
            versus(row.flops, first.flops),
            f'{row.latency_ms:.1f}',
            versus(row.latency_ms, first.latency_ms),
        ]
        if files:
            cells.append('—' if row.file_mib is None else f'{row.file_mib:.2f}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'
