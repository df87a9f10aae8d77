r"""Heat maps of where each model looks, side by side: Grad-CAM for classifiers, EigenCAM for
detectors (pytorch-grad-cam; see mgd/analysis/cam.py). One row per image, one column per
model; a distillation config with its checkpoint means its student.

Example (NEU-CLS teachers and students, one image per class)::

    C=configs/neu_cls W=work_dirs/neu_cls
    python tools/analysis/cam.py data/neu_cls/images --per-class 1 --models \
        $C/resnet34-w32_neu_cls.py:$W/teacher_r34/epoch_30.pth \
        $C/resnet18-w8_neu_cls.py:$W/none_seed0/epoch_30.pth \
        $C/mgd-mtkd_resnet18-w32-resnet34-w32_resnet18-w8_neu_cls.py:$W/multi_seed0/epoch_30.pth \
        --names teacher baseline multi --out $W/cam.png
"""

import argparse

import mgd.models  # noqa: F401  (stack fixes; registers the MGD classes)
from mgd.analysis.cam import cam_figure
from mgd.analysis.inference import pick_images
from mgd.utils.errors import run_main


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('images', nargs='+', help='image files or folders')
    parser.add_argument('--models', nargs='+', required=True, metavar='CFG:CKPT')
    parser.add_argument('--names', nargs='+', help='column title per model (default: config)')
    parser.add_argument('--per-class', type=int, help='first N images of each file-name prefix')
    parser.add_argument('--levels', type=int, default=3, help="detectors' FPN levels (P3 up)")
    parser.add_argument('--out', required=True, help='PNG to write')
    args = parser.parse_args()
    images = pick_images(args.images, args.per_class)
    names = args.names or [m.partition(':')[0].rsplit('/', 1)[-1][:-3] for m in args.models]
    if len(names) != len(args.models):
        raise SystemExit(f'error: {len(args.models)} models but {len(names)} --names')
    models = [(n, *(m.partition(':')[::2])) for n, m in zip(names, args.models)]
    models = [(n, cfg, ckpt or None) for n, cfg, ckpt in models]
    classes = cam_figure(images, models, args.out, args.levels)
    for name, found in classes.items():
        if found:
            print(name, ', '.join(f'{c} {p:.2f}' for c, p in found))
    print(f'{len(images)} images x {len(models)} models -> {args.out}')


if __name__ == '__main__':
    run_main(main)
