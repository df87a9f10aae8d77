"""Parameters, FLOPs and latency per image of several models, as a Markdown table.

Each later row shows its reduction in % against the first (the teacher). A distillation
config means its student. FLOPs and latency are of the network's ``tensor`` forward (no box
decoding or NMS) on a random input of ``--shape``, batch 1; latency is the median of
``--runs`` forwards after ``--warmup`` ones. An ``.onnx`` file (``tools/deploy.py``'s, fp32 or
INT8) is timed under ONNX Runtime on the CPU beside the PyTorch models, with its weights'
count and its size on disk; ``--threads`` sets both runtimes' threads.

Example::

    python tools/analysis/complexity.py configs/demo/retinanet_r18-w32_demo.py \\
        configs/demo/mgd_fpn_retina_r18-w32_retina_r18-w16_demo.py \\
        work_dirs/demo/deploy/model.onnx work_dirs/demo/deploy/model_int8.onnx \\
        --names teacher mgd mgd-onnx mgd-int8 --shape 3 256 256 --threads 2
"""

import argparse
import os
import os.path as osp

import torch

import mgd.models  # noqa: F401  (stack fixes; registers the MGD classes)
from mgd.analysis.complexity import complexity_table, measure
from mgd.deploy.onnx_model import OnnxNetwork
from mgd.utils.errors import ConfigError, run_main


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('configs', nargs='+', help='config or .onnx files, the reference first')
    parser.add_argument('--names', nargs='+', help='row name per config (default: file names)')
    parser.add_argument(
        '--shape', nargs=3, type=int, default=[3, 224, 224], metavar=('C', 'H', 'W')
    )
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    parser.add_argument('--runs', type=int, default=20, help='timed forwards per model')
    parser.add_argument('--warmup', type=int, default=5, help='untimed forwards first')
    parser.add_argument('--threads', type=int, help='CPU threads of PyTorch and ONNX Runtime '
                        '(default: PyTorch\'s, one per core)')  # fmt: skip
    parser.add_argument('--out', help='also write the table to this Markdown file')
    args = parser.parse_args()
    names = args.names or [osp.splitext(osp.basename(c))[0] for c in args.configs]
    if len(set(names)) != len(args.configs):
        parser.error(f'{len(args.configs)} configs need as many different names, got {names}')
    onnx = [c for c in args.configs if c.endswith('.onnx')]
    if onnx and args.device != 'cpu':
        raise ConfigError(f'{onnx[0]} runs under ONNX Runtime on the CPU: time it with '
                          f'--device cpu, or leave the ONNX files out')  # fmt: skip
    if args.threads is not None and (args.threads < 1 or args.device != 'cpu'):
        raise ConfigError(f'--threads {args.threads}: CPU threads, 1 or more, with --device cpu')
    threads = None
    if args.device == 'cpu':
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        threads = torch.get_num_threads()
    models = {
        name: OnnxNetwork(c, threads, spinning=False) if c.endswith('.onnx') else c
        for name, c in zip(names, args.configs)
    }
    rows = measure(models, args.shape, args.device, args.runs, args.warmup)
    table = complexity_table(rows, args.shape, args.device, threads)
    print(table, end='')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(table)


if __name__ == '__main__':
    run_main(main)
