"""NEU-CLS-style classification from NEU-DET's images: the class is the file-name prefix.

Input: a NEU-DET folder as distributed (``IMAGES/crazing_1.jpg`` ...; the XML files are not
read). Output, for ``mgd.NEUCLSDataset`` (mmpretrain's ``CustomDataset`` layout)::

    OUT/images/crazing_1.jpg ...             (links, or copies with copy=True)
    OUT/meta/{train,val,test}.txt            ('crazing_1.jpg 0' per line; label = class index)

Each class's images are split 70/20/10 % (300 -> 210/60/30) with the same seeded rule as the
detection converter (``neu_det_to_coco.py``), so that with the same seed an image lies in the
same split for both tasks.
"""

from __future__ import annotations

import os.path as osp
from typing import NamedTuple

from mgd.datasets.converters.neu_det import class_of
from mgd.datasets.converters.voc import VOCError, find_folder, index_images
from mgd.datasets.converters.voc_convert import SPLITS, _link_images, split_records
from mgd.datasets.metainfo import NEU_DET_CLASSES
from mgd.utils.fileio import check_writable_folder, write_folder_atomically


class Image(NamedTuple):
    file_name: str
    image_path: str
    group: str
    sort_key: tuple[int, int]


def convert(root: str, out_dir: str, seed: int = 0, copy: bool = False) -> dict[str, dict]:
    """Writes the classification split of NEU-DET's images under ``root`` into ``out_dir``.

    Returns:
        ``{split: {class: number of images}}``.

    Raises:
        FileNotFoundError: ``root`` has no images folder.
        VOCError: an image name is not ``<class>_<number>``, or a class has no image.
    """
    for path in (out_dir, osp.join(out_dir, 'images'), osp.join(out_dir, 'meta')):
        check_writable_folder(path, 'out_dir')
    images_dir = find_folder(root, ('IMAGES', 'JPEGImages'), 'IMAGES')
    images = []
    for stem, path in index_images(images_dir).items():
        label, key = class_of(stem, path)
        images.append(Image(osp.basename(path), path, label, key))
    missing = sorted(set(NEU_DET_CLASSES) - {image.group for image in images})
    if missing:
        raise VOCError(f'{images_dir}: no image of the classes {missing}')
    splits = split_records(images, NEU_DET_CLASSES, seed)
    _link_images(images, images_dir, osp.join(out_dir, 'images'), copy)
    write_folder_atomically(
        osp.join(out_dir, 'meta'),
        {
            f'{split}.txt': ''.join(
                f'{image.file_name} {NEU_DET_CLASSES.index(image.group)}\n' for image in group
            )
            for split, group in splits.items()
        },
    )
    return {
        split: {
            name: sum(image.group == name for image in splits[split]) for name in NEU_DET_CLASSES
        }
        for split in SPLITS
    }
