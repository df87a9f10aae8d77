"""Before/after picture of contrast enhancement: one row per image, columns original,
global histogram equalisation, CLAHE (mgd.ContrastEnhance, as the pipelines apply it).

    python tools/analysis/contrast_grid.py data/neu_det/images/crazing_1.jpg ... --out grid.png
    python tools/analysis/contrast_grid.py data/neu_det/images --per-class 1 --out grid.png
"""

from __future__ import annotations

import argparse

import cv2
import mmcv
import numpy as np

from mgd.analysis.inference import pick_images
from mgd.datasets.transforms import check_arguments, enhance
from mgd.utils.errors import ConfigError, run_main
from mgd.utils.fileio import write_atomically

COLUMNS = ('original', 'hist_eq', 'clahe')
TILE = 200


def grid(files: list[str], clip_limit: float, tile_grid_size: tuple[int, int]) -> np.ndarray:
    """The picture: a header row of column names, then each image three times."""
    header = np.full((30, TILE * len(COLUMNS), 3), 255, np.uint8)
    for i, name in enumerate(COLUMNS):
        cv2.putText(header, name, (i * TILE + 8, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1)
    rows = [header]
    for path in files:
        img = mmcv.imresize(mmcv.imread(path), (TILE, TILE))
        cells = [img] + [enhance(img, m, clip_limit, tile_grid_size) for m in COLUMNS[1:]]
        rows.append(np.concatenate(cells, axis=1))
    return np.concatenate(rows, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('images', nargs='+', help='image files or folders')
    parser.add_argument('--out', required=True, help='the PNG to write')
    parser.add_argument('--per-class', type=int, help='first N images of each file-name prefix')
    parser.add_argument('--clip-limit', type=float, default=2.0)
    parser.add_argument('--tile-grid-size', type=int, nargs=2, default=(8, 8))
    args = parser.parse_args()
    tiles = tuple(args.tile_grid_size)
    try:  # the transform's own checks, before any image is read
        check_arguments('clahe', args.clip_limit, tiles)
    except ConfigError as err:
        flag = '--clip-limit' if 'clip_limit' in str(err) else '--tile-grid-size'
        parser.error(f'{flag}: {err}')
    files = pick_images(args.images, args.per_class)
    picture = grid(files, args.clip_limit, tiles)
    _, png = cv2.imencode('.png', picture)
    write_atomically({args.out: png.tobytes()})
    print(f'{len(files)} images -> {args.out}')


if __name__ == '__main__':
    run_main(main)
