"""Convert NEU-DET (VOC XML + JPEG) to COCO JSON, split 7:2:1 per class.

Example::

    python tools/dataset_converters/neu_det_to_coco.py /path/to/NEU-DET data/neu_det

writes data/neu_det/annotations/instances_{train,val,test}.json and links the images into
data/neu_det/images/ (--copy copies them). Boxes marked <difficult>1</difficult> become ignored
regions (iscrowd=1), as VOC evaluation treats them; --keep-difficult keeps them as ordinary
boxes. This is the NEU-DET preset of voc_to_coco.py (same as its --preset neu_det). Box
convention and split rule: see mgd/datasets/converters/neu_det.py.
"""

from mgd.datasets.converters.cli import main
from mgd.utils.errors import run_main

if __name__ == '__main__':
    run_main(lambda: main(__doc__, preset='neu_det'))
