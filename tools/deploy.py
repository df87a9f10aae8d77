"""Export a (distilled) student to ONNX and check it under ONNX Runtime against PyTorch.

Writes ``OUT/model.onnx`` (the network: a normalised image tensor in, the raw head outputs
out; batch, height and width dynamic) and ``OUT/deploy.json`` (input size, mean/std, channel
order, class names, output names). Then, on each ``--images`` image, prints the largest
difference of the raw outputs and whether the final detections (or the top-1 class) are the
same, decoded by the model's own post-processing. With ``--int8``, also
``OUT/model_int8.onnx``: ONNX Runtime's static quantization calibrated on ``--calib`` images of
the config's training set (or of ``--int8 IMAGES``), checked on the same ``--images``: how many
of PyTorch's detections (score ≥ ``--score-thr``) it finds again (same class, IoU ≥ 0.5). A
distillation config with its checkpoint exports its student.

Example::

    python tools/deploy.py configs/demo/mgd_fpn_retina_r18-w32_retina_r18-w16_demo.py \\
        work_dirs/demo/mgd_seed0/epoch_12.pth --out work_dirs/demo/deploy \\
        --images data/demo_neu_det/images --int8 --calib 100
"""

import argparse
import os
import os.path as osp

from mmengine.config import DictAction

import mgd.models  # noqa: F401  (stack fixes; registers the MGD classes)
from mgd.analysis.inference import pick_images
from mgd.analysis.models import build_model, load_image
from mgd.deploy.onnx_model import agreement, compare, export, quantize, training_images
from mgd.utils.config import load_config
from mgd.utils.errors import ConfigError, run_main


def spread(images: list[str], count: int) -> list[str]:
    """``count`` images evenly spaced through the sorted list (a folder sorted by name is
    often grouped by class: its first images would all be of one)."""
    if len(images) <= count:
        return images
    return [images[round(i * (len(images) - 1) / (count - 1))] if count > 1 else images[0]
            for i in range(count)]  # fmt: skip


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('config', help='student or distillation config')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='folder for model.onnx and deploy.json')
    parser.add_argument('--images', nargs='+', required=True, help='images or folders to check on')
    parser.add_argument('--check', type=int, default=5,
                        help='how many of the images to check (evenly spaced by name)')  # fmt: skip
    parser.add_argument('--int8', nargs='*', metavar='IMAGES', help='also quantize, calibrated '
                        'on the training set (or on these images or folders)')  # fmt: skip
    parser.add_argument('--calib', type=int, help='--int8: images calibrated on (200, spread)')
    parser.add_argument('--score-thr', type=float, help='--int8: detections compared (0.3)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. the data roots')  # fmt: skip
    args = parser.parse_args()
    if args.int8 is None and (args.calib is not None or args.score_thr is not None):
        raise ConfigError('--calib and --score-thr set the INT8 quantization: add --int8')
    args.calib = 200 if args.calib is None else args.calib
    args.score_thr = 0.3 if args.score_thr is None else args.score_thr
    for flag, value in (('--check', args.check), ('--calib', args.calib)):
        if value < 1:
            raise ConfigError(f'{flag} {value}: pass 1 or more')
    images = spread(pick_images(args.images), args.check)
    model = build_model(load_config(args.config, args.cfg_options), args.checkpoint)
    os.makedirs(args.out, exist_ok=True)
    inputs, _ = load_image(model, images[0])
    written = export(model, inputs, args.out)
    print(f'wrote {written["onnx"]} and {written["meta"]}')
    rows = compare(model, written['onnx'], images)
    for row in rows:
        verdict = 'same' if row['same'] else 'DIFFERENT'
        print(f'{row["image"]}: max |ONNX Runtime - PyTorch| {row["max_abs_diff"]:.2e}, '
              f'{row["predictions"]} predictions: {verdict}')  # fmt: skip
    same = sum(r['same'] for r in rows)
    print(f'{same} of {len(rows)} images: the same predictions as PyTorch')
    if args.int8 is not None:
        pool = pick_images(args.int8) if args.int8 else training_images(model)
        calibration = spread(pool, args.calib)
        int8 = quantize(model, written['onnx'], calibration, osp.join(args.out, 'model_int8.onnx'))
        mb = {k: osp.getsize(v) / 2**20 for k, v in (('fp32', written['onnx']), ('int8', int8))}
        print(f'wrote {int8} (calibrated on {len(calibration)} images): '
              f'{mb["int8"]:.1f} MiB, fp32 {mb["fp32"]:.1f} MiB')  # fmt: skip
        found = agreement(model, int8, images, args.score_thr)
        for row in found:
            print(f'{row["image"]}: INT8 max |difference| {row["max_abs_diff"]:.2e}, finds '
                  f'{row["found"]} of PyTorch\'s {row["total"]} predictions')  # fmt: skip
        hits, total = sum(r['found'] for r in found), sum(r['total'] for r in found)
        print(f'INT8 finds {hits} of {total} PyTorch predictions (score >= {args.score_thr}) '
              f'on {len(found)} images')  # fmt: skip
    if same < len(rows):
        raise SystemExit(1)


if __name__ == '__main__':
    run_main(main)
