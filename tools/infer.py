"""Detect objects in an image or a folder and write the images with the detections drawn.

Boxes (and masks), class names and scores above ``--score-thr`` are drawn. A distillation
config with its checkpoint runs its student; an ``.onnx`` file of ``tools/deploy.py`` in place
of the checkpoint runs under ONNX Runtime.

Example::

    python tools/infer.py configs/demo/mgd_fpn_retina_r18-w32_retina_r18-w16_demo.py \\
        work_dirs/demo/mgd_seed0/epoch_12.pth data/demo_neu_det/images --out work_dirs/demo/infer
"""

import argparse

import mgd.models  # noqa: F401  (stack fixes; registers the MGD classes)
from mgd.analysis.inference import draw_detections, list_images
from mgd.analysis.models import build_model
from mgd.deploy.onnx_model import onnx_model
from mgd.utils.errors import run_main


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('config', help='detector or distillation config')
    parser.add_argument('checkpoint', help='checkpoint file, or an .onnx file of tools/deploy.py')
    parser.add_argument('inputs', help='image file or folder of images')
    parser.add_argument('--out', default='outputs', help='folder for the drawn images')
    parser.add_argument('--score-thr', type=float, default=0.3, help='lowest score drawn')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    list_images(args.inputs)  # a wrong path is named before the model is built
    if args.checkpoint.endswith('.onnx'):
        model = onnx_model(args.config, args.checkpoint)
    else:
        model = build_model(args.config, args.checkpoint, args.device)
    written = draw_detections(model, args.inputs, args.out, args.score_thr)
    for path, count in written:
        if count is None:
            print(f'{path}: skipped, not a readable image')
        else:
            print(f'{path}: {count} detections with score > {args.score_thr}')
    skipped = sum(count is None for _, count in written)
    if skipped:
        print(f'{skipped} of {len(written)} images skipped (see the warnings above)')


if __name__ == '__main__':
    run_main(main)
