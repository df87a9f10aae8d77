r"""Draw the spatial attention (mean |feature| over channels) of every distilled feature.

One row per model (input image, then one map per FPN level, or the last backbone stage of a
classifier), one PNG. A distillation config with its checkpoint means its student.

Example::

    python tools/analysis/feature_maps.py data/demo_neu_det/images/val_0000.jpg --models \
        configs/demo/retinanet_r18-w32_demo.py:work_dirs/demo/teacher/epoch_24.pth \
        configs/demo/retinanet_r18-w16_demo.py:work_dirs/demo/baseline_seed0/epoch_12.pth \
        --names teacher baseline --out work_dirs/demo/analysis/attention.png
"""

import argparse

import mgd.models  # noqa: F401  (stack fixes; registers the MGD classes)
from mgd.analysis.features import feature_figure
from mgd.utils.errors import run_main


def parse_model(text: str) -> tuple[str, str | None]:
    """``CONFIG:CHECKPOINT`` (or ``CONFIG`` alone: random weights)."""
    config, _, checkpoint = text.partition(':')
    return config, checkpoint or None


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('image', help='image file')
    parser.add_argument(
        '--models',
        nargs='+',
        required=True,
        type=parse_model,
        metavar='CFG:CKPT',
        help='config and checkpoint per model',
    )
    parser.add_argument('--names', nargs='+', help='row title per model (default: config names)')
    parser.add_argument('--out', required=True, help='PNG to write')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    print(feature_figure(args.image, args.models, args.out, args.names, args.device))


if __name__ == '__main__':
    run_main(main)
