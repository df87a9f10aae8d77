"""Parameters, FLOPs and latency per image of several models, as a Markdown table.

Each later row shows its reduction in % against the first (the teacher). A distillation
config means its student. FLOPs and latency are of the network's ``tensor`` forward (no box
decoding or NMS) on a random input of ``--shape``, batch 1; latency is the median of
``--runs`` forwards after ``--warmup`` ones.

Example::

    python tools/analysis/complexity.py configs/demo/retinanet_r18-w32_demo.py \\
        configs/demo/mgd_fpn_retina_r18-w32_retina_r18-w16_demo.py \\
        --names teacher mgd --shape 3 224 224 --out work_dirs/demo/analysis/complexity.md
"""

import argparse
import os
import os.path as osp

import mgd.models  # noqa: F401  (stack fixes; registers the MGD classes)
from mgd.analysis.complexity import complexity_table, measure
from mgd.utils.errors import run_main


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('configs', nargs='+', help='config files, the reference first')
    parser.add_argument('--names', nargs='+', help='row name per config (default: file names)')
    parser.add_argument(
        '--shape', nargs=3, type=int, default=[3, 224, 224], metavar=('C', 'H', 'W')
    )
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    parser.add_argument('--runs', type=int, default=20, help='timed forwards per model')
    parser.add_argument('--warmup', type=int, default=5, help='untimed forwards first')
    parser.add_argument('--out', help='also write the table to this Markdown file')
    args = parser.parse_args()
    names = args.names or [osp.splitext(osp.basename(c))[0] for c in args.configs]
    if len(set(names)) != len(args.configs):
        parser.error(f'{len(args.configs)} configs need as many different names, got {names}')
    rows = measure(dict(zip(names, args.configs)), args.shape, args.device, args.runs, args.warmup)
    table = complexity_table(rows, args.shape, args.device)
    print(table, end='')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(table)


if __name__ == '__main__':
    run_main(main)
