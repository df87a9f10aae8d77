"""NEU-CLS-style classification data from NEU-DET's images (the class is the file-name prefix).

Example::

    python tools/dataset_converters/neu_det_to_cls.py /path/to/NEU-DET data/neu_cls

links the 1,800 images into data/neu_cls/images/ (--copy copies them) and writes
data/neu_cls/meta/{train,val,test}.txt (70/20/10 % of each class, the split of
neu_det_to_coco.py with the same --seed), as configs/neu_cls/ read them.
"""

import argparse

from mgd.datasets.converters.neu_cls import convert
from mgd.datasets.metainfo import NEU_DET_CLASSES
from mgd.utils.errors import run_main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('root', help='the NEU-DET folder (IMAGES/ inside, in any case)')
    parser.add_argument('out_dir', help='output folder (images/ and meta/ go here)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the split')
    parser.add_argument('--copy', action='store_true', help='copy the images instead of linking')
    args = parser.parse_args()
    counts = convert(args.root, args.out_dir, args.seed, args.copy)
    print('images per split:', ', '.join(f'{s} {sum(c.values())}' for s, c in counts.items()))
    for name in NEU_DET_CLASSES:
        print(f'  {name:16s}', ' '.join(f'{counts[s][name]:4d}' for s in counts))


if __name__ == '__main__':
    run_main(main)
