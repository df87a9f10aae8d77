"""Write the synthetic NEU-DET look-alike used by the demo and the tests.

Example::

    python tools/misc/make_demo_data.py data/demo --train 300 --val 100 --seed 0
"""

import argparse
import sys
import time

from mgd.datasets.converters.synthetic import make_demo_data, summarize
from mgd.utils.fileio import NotWritableError


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('out_dir', help='output folder (images/ and annotations/ go here)')
    parser.add_argument('--train', type=int, default=300, help='number of training images')
    parser.add_argument('--val', type=int, default=100, help='number of validation images')
    parser.add_argument('--seed', type=int, default=0, help='the output is a function of it')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.train < 0 or args.val < 0:
        raise SystemExit('error: --train and --val must not be negative')
    start = time.perf_counter()
    try:
        cocos = make_demo_data(args.out_dir, args.train, args.val, args.seed)
    except NotWritableError as e:
        sys.exit(f'error: {e}')
    print(f'{args.out_dir}: {summarize(cocos)}, in {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
