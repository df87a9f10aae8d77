"""What distillation does: feature attention, model complexity, training curves, results.

The tools in ``tools/analysis/`` and ``tools/infer.py`` are thin command lines over these
modules; :func:`demo_report` runs the first three for the demo.
"""

from __future__ import annotations

import os
import os.path as osp
from collections.abc import Sequence

from mgd.utils.errors import ConfigError

__all__ = ['demo_report']


def demo_report(
    work_dir: str,
    configs: dict[str, str],
    checkpoints: dict[str, str | None],
    image: str,
    out_dir: str | None = None,
    run_dirs: dict[str, str] | None = None,
    shape: Sequence[int] = (3, 224, 224),
    device: str = 'cpu',
    latency_runs: int = 20,
) -> dict[str, str]:
    """Writes the attention PNG, the training-curves PNG and the complexity table of a demo.

    Args:
        work_dir: the demo's work dir; each run's logs are in ``work_dir/<name>``.
        configs: model name -> config path, in table order (the first, the teacher, is the
            reference of the reductions).
        checkpoints: model name -> checkpoint for the attention maps (None: random weights).
        image: the image whose attention is drawn.
        out_dir: where the files go (default ``work_dir/analysis``).
        run_dirs: model name -> work dir of its training, if not ``work_dir/<name>``.
        shape: the input (C, H, W) of FLOPs and latency.
        device: where latency is measured.
        latency_runs: timed forwards per model (after 5 warm-up ones).

    Returns:
        ``{'attention': PNG, 'curves': PNG, 'complexity': Markdown file}`` (paths).
    """
    # Imported here: reading logs or metrics (curves, results) needs no model stack.
    from mgd.analysis.complexity import complexity_table, measure
    from mgd.analysis.curves import plot_curves
    from mgd.analysis.features import feature_figure

    out_dir = out_dir or osp.join(work_dir, 'analysis')
    os.makedirs(out_dir, exist_ok=True)
    names = list(configs)
    missing = [name for name in names if name not in checkpoints]
    if missing:
        raise ConfigError(f'no checkpoint given for {missing}')
    run_dirs = {name: osp.join(work_dir, name) for name in names} | dict(run_dirs or {})
    paths = {
        'attention': feature_figure(
            image,
            [(configs[n], checkpoints[n]) for n in names],
            osp.join(out_dir, 'attention.png'),
            names,
            device,
        ),
        'curves': plot_curves([run_dirs[n] for n in names], osp.join(out_dir, 'curves.png'), names),
    }
    rows = measure(configs, shape, device, runs=latency_runs)
    paths['complexity'] = osp.join(out_dir, 'complexity.md')
    with open(paths['complexity'], 'w') as f:
        f.write(complexity_table(rows, shape, device))
    return paths
