"""Write the synthetic NEU-DET look-alike used by the demo and the tests, or (``--boards``) a
synthetic Pascal-VOC set of small defects on 320x240 circuit-board-like images with its own
train/test split (mgd/datasets/converters/synthetic_boards.py), for ``tools/demo.py --data``.

Examples::

    python tools/misc/make_demo_data.py data/demo --train 300 --val 100 --seed 0
    python tools/misc/make_demo_data.py data/boards_voc --boards --images 240
"""

import argparse
import sys
import time

from mgd.datasets.converters.synthetic import make_demo_data, summarize
from mgd.datasets.converters.synthetic_boards import make_boards
from mgd.utils.errors import run_main
from mgd.utils.fileio import NotWritableError


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('out_dir', help='output folder (images/ and annotations/ go here)')
    parser.add_argument('--train', type=int, default=300, help='number of training images')
    parser.add_argument('--val', type=int, default=100, help='number of validation images')
    parser.add_argument('--seed', type=int, default=0, help='the output is a function of it')
    parser.add_argument('--boards', action='store_true', help='the VOC board set instead')
    parser.add_argument('--images', type=int, default=240, help='--boards: number of images')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.train < 0 or args.val < 0:
        raise SystemExit('error: --train and --val must not be negative')
    start = time.perf_counter()
    if args.boards:
        if args.images < 1:
            raise SystemExit('error: --images must be at least 1')
        counts = make_boards(args.out_dir, args.images, args.seed)
        print(
            f'{args.out_dir}: train {counts["train"]} / test {counts["test"]} images, '
            f'{counts["boxes"]} boxes, in {time.perf_counter() - start:.1f} s'
        )
        return
    try:
        cocos = make_demo_data(args.out_dir, args.train, args.val, args.seed)
    except NotWritableError as e:
        sys.exit(f'error: {e}')
    print(f'{args.out_dir}: {summarize(cocos)}, in {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    run_main(main)
