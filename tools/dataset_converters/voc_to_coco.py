"""Convert a Pascal-VOC data set (XML + images) to COCO JSON, with its own split or 7:2:1.

Examples::

    python tools/dataset_converters/voc_to_coco.py /path/to/VOC data/mine --classes cat dog
    python tools/dataset_converters/voc_to_coco.py /path/to/VOC data/mine --classes-file classes.txt
    python tools/dataset_converters/voc_to_coco.py /path/to/NEU-DET data/neu_det --preset neu_det

ROOT holds ANNOTATIONS/ (or Annotations/) and IMAGES/ (or JPEGImages/), names in any case.
Writes OUT_DIR/annotations/instances_{train,val,test}.json and links the images into
OUT_DIR/images/ (--copy copies them). COCO category ids are 1..K in the order of the class
list; a box whose <name> is not in it stops the conversion (all such names are listed, and
nothing is written). The split is stratified by each image's most frequent box label (ties: the
first in the class list; images without boxes form a group of their own), fixed by --seed.
A split that comes with the data is kept: ImageSets/Main/{train,val,test,trainval}.txt, or
--split-file FILE (one "image_id split" a line); val is carved from train when it has none.
Boxes marked <difficult>1</difficult> become ignored regions (iscrowd=1); --keep-difficult
keeps them as ordinary boxes. Details: mgd/datasets/converters/voc_convert.py.
"""

from mgd.datasets.converters.cli import main
from mgd.utils.errors import run_main

if __name__ == '__main__':
    run_main(lambda: main(__doc__))
