"""Plot training curves of several runs: task loss, distillation loss, validation score.

Reads mmengine's ``WORK_DIR/<timestamp>/vis_data/scalars.json``; a work dir with several
launches (a resumed run) is concatenated in time order.

Example::

    python tools/analysis/plot_curves.py work_dirs/demo/baseline_seed0 work_dirs/demo/mgd_seed0 \\
        --names baseline mgd --out work_dirs/demo/analysis/curves.png
"""

import argparse

from mgd.analysis.curves import plot_curves
from mgd.utils.errors import run_main


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('work_dirs', nargs='+', help='mmengine work dirs')
    parser.add_argument('--names', nargs='+', help='legend entry per run (default: dir names)')
    parser.add_argument('--out', required=True, help='PNG to write')
    args = parser.parse_args()
    try:
        print(plot_curves(args.work_dirs, args.out, args.names))
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f'error: {err}') from None


if __name__ == '__main__':
    run_main(main)
