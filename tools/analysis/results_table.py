"""Several runs' test metrics (``WORK_DIR/test_metrics.json``) in one Markdown table.

Detection: bbox mAP, AP50, AP75, AP_S, AP_M, AP_L in % (and mask ones if any run has them);
classification: top-1, top-5. A missing metric shows ``n/a``.

Example::

    python tools/analysis/results_table.py work_dirs/demo/teacher/test_val \\
        work_dirs/demo/baseline_seed0/test_val work_dirs/demo/mgd_seed0/test_val \\
        --names teacher baseline mgd
"""

import argparse
import os
import os.path as osp

from mgd.analysis.results import results_table
from mgd.utils.errors import run_main


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('work_dirs', nargs='+', help='work dirs of tools/test.py runs')
    parser.add_argument('--names', nargs='+', help='row name per run (default: dir names)')
    parser.add_argument('--out', help='also write the table to this Markdown file')
    args = parser.parse_args()
    try:
        table = results_table(args.work_dirs, args.names)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f'error: {err}') from None
    print(table, end='')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(table)


if __name__ == '__main__':
    run_main(main)
