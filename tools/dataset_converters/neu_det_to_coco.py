"""Convert NEU-DET (VOC XML + JPEG) to COCO JSON, split 7:2:1 per class.

Example::

    python tools/dataset_converters/neu_det_to_coco.py /path/to/NEU-DET data/neu_det

writes data/neu_det/annotations/instances_{train,val,test}.json and links the images into
data/neu_det/images/ (--copy copies them). Box convention and split rule: see
mgd/datasets/converters/neu_det.py.
"""

import argparse
import sys

from mgd.datasets.converters.neu_det import NEUDETError, convert, summary_table
from mgd.utils.fileio import NotWritableError


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('neu_det_root', help='folder with ANNOTATIONS/ and IMAGES/')
    parser.add_argument('out_dir', help='output folder (images/ and annotations/ go here)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the split')
    parser.add_argument('--copy', action='store_true', help='copy the images instead of linking')
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        result = convert(args.neu_det_root, args.out_dir, seed=args.seed, copy=args.copy)
    except NotWritableError as e:  # its message says that nothing was written
        sys.exit(f'error: {e}')
    except (NEUDETError, FileNotFoundError) as e:
        sys.exit(f'error: {e}\nnothing was written.')
    print(summary_table(result))
    print(f'wrote {args.out_dir}/annotations/instances_{{train,val,test}}.json')


if __name__ == '__main__':
    main()
