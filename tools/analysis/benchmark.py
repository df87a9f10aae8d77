"""Benchmark: our MGD distillation step against MMRazor's, and against the sum of its parts.

RetinaNet X101-64x4d -> R50 (configs/coco/mgd_fpn_retina_x101_retina_r50_2x_coco.py against
MMRazor's own configs/distill/mmdet/mgd config), random weights, one random batch, in one
process; interleaved rounds, medians. Measures the connector+loss on the 5 FPN levels, the
full train step with the teacher in fp32 and in half precision (``model.teacher_dtype``), the
step's memory, and the student step, teacher forward and MGD block alone. Then, on the
NEU-DET from-scratch pair (batch 8, 256x256 whatever the options), the MGD step with the live
teacher and with the teacher-feature cache (``model.teacher_cache``) over the student-alone
step. Writes WORK_DIR/benchmark.json; the last line printed is

    mgd/mmrazor connector <r> step <r> step-half-teacher <r> memory <r> step/sum-of-parts <r>
        overhead <r> overhead-cached <r>

Examples::

    python tools/analysis/benchmark.py                  # CPU, batch 2, 320x320
    python tools/analysis/benchmark.py --device cuda    # a GPU, fp16 teacher
    python tools/analysis/benchmark.py --quick          # batch 1, 128x128, 2 rounds
"""

import argparse
import json
import os
import os.path as osp
import platform
import sys

import torch

import mgd.models  # noqa: F401  (stack fixes; registers the MGD classes)
from mgd.analysis.benchmark import report, run
from mgd.utils.errors import run_main
from mgd.utils.fileio import write_atomically

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        epilog=__doc__.split('\n\n', 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    parser.add_argument('--batch', type=int, default=2, help='images per step')
    parser.add_argument('--size', type=int, default=320, help='image side in pixels')
    parser.add_argument('--rounds', type=int, default=7, help='timed rounds (after 1 warm-up)')
    parser.add_argument('--half', choices=['bf16', 'fp16'], help='teacher dtype (default: bf16 '
                        'on the CPU, fp16 on a GPU)')  # fmt: skip
    parser.add_argument('--quick', action='store_true', help='batch 1, 128x128, 2 rounds')
    parser.add_argument('--work-dir', default='work_dirs/benchmark', help='where the JSON goes')
    args = parser.parse_args()
    if args.quick:
        args.batch, args.size, args.rounds = 1, 128, 2
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error(f'--device {args.device}: torch sees no CUDA device')
    os.chdir(REPO)  # the configs are named relative to the repository
    result = run(args.device, args.batch, args.size, args.rounds, args.half)
    result['command'] = ' '.join([osp.basename(sys.executable), *sys.argv])
    result['machine'] = (
        torch.cuda.get_device_name(args.device)
        if args.device.startswith('cuda')
        else f'{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads'
    )
    os.makedirs(args.work_dir, exist_ok=True)
    path = osp.join(args.work_dir, 'benchmark.json')
    write_atomically({path: json.dumps(result, indent=1)})
    print(f"{result['machine']}; numbers in {path}")
    print(report(result))


if __name__ == '__main__':
    run_main(main)
