"""Prune a trained model's channels to a FLOPs target with mmrazor, for fine-tuning or MGD.

    python tools/prune.py CONFIG CHECKPOINT --flops-ratio 0.6 [--importance l1|bn] \\
        [--mgd-config MGD_CONFIG] [--work-dir DIR]

Writes into DIR (default work_dirs/pruned_<config name>):
  fix_subnet.json       the channels each unit keeps (mmrazor's ChannelMutator units)
  pruned.pth            the pruned model's weights (the kept channels, sliced)
  pruned_<config>.py    CONFIG with the pruned model: fine-tune it (tools/train.py), test it
                        (tools/test.py ... DIR/pruned.pth for the pruned model before any training)
  mgd_<config>.py       with --mgd-config: that MGD config with the pruned model as its student
                        (inherit=(): the pruned neck and head no longer match the teacher's)
The FPN outputs (the features MGD distils, and the head's input) keep all their channels.
See mgd/models/pruning.py.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import os.path as osp

import torch

import mgd.models  # noqa: F401  (stack fixes; registers the MGD classes)
from mgd.analysis.complexity import count_flops, count_params
from mgd.analysis.models import build_model
from mgd.models.pruning import IMPORTANCE, prune_to_flops, pruned_config
from mgd.utils.checkpoint import read_state_dict
from mgd.utils.errors import ConfigError, run_main
from mgd.utils.fileio import write_atomically


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('config', help='the config the checkpoint was trained with')
    parser.add_argument('checkpoint')
    parser.add_argument('--flops-ratio', type=float, required=True, help='FLOPs to keep, (0, 1)')
    parser.add_argument('--importance', choices=list(IMPORTANCE), default='l1')
    parser.add_argument('--input-size', type=int, nargs=2, default=(256, 256), metavar=('H', 'W'))
    parser.add_argument('--mgd-config', help='also write this MGD config with the pruned student')
    parser.add_argument('--work-dir')
    parser.add_argument(
        '--force', action='store_true', help='replace a pruned model already in the work dir'
    )
    args = parser.parse_args()

    name = osp.splitext(osp.basename(args.config))[0]
    work_dir = osp.abspath(args.work_dir or osp.join('work_dirs', f'pruned_{name}'))
    done = [f for f in ('fix_subnet.json', 'pruned.pth') if osp.exists(osp.join(work_dir, f))]
    if done and not args.force:
        raise ConfigError(
            f'{work_dir} already holds a pruned model ({", ".join(done)}); replacing it would '
            'leave models fine-tuned from it without the structure they were trained with. '
            'Pass another --work-dir, or --force to replace it.'
        )
    os.makedirs(work_dir, exist_ok=True)
    # the model the config evaluates, uninitialised: the checkpoint sets every weight, and only
    # after prune_to_flops has swapped the layers
    model = build_model(args.config, init_weights=False)
    scope = model.cfg.get('default_scope')
    shape = (3, *args.input_size)
    before = count_flops(model, shape) / 1e9, count_params(model) / 1e6
    structure, model, _ = prune_to_flops(
        model, read_state_dict(args.checkpoint), args.flops_ratio, args.importance, shape
    )
    after = count_flops(model, shape) / 1e9, count_params(model) / 1e6
    subnet, pruned = osp.join(work_dir, 'fix_subnet.json'), osp.join(work_dir, 'pruned.pth')
    weights = io.BytesIO()
    torch.save(
        {'state_dict': model.state_dict(), 'meta': dict(pruned_from=args.checkpoint)}, weights
    )
    files = {subnet: json.dumps(structure, indent=1), pruned: weights.getvalue()}
    files[osp.join(work_dir, f'pruned_{name}.py')] = pruned_config(
        args.config, subnet, pruned, shape, scope
    )
    if args.mgd_config:
        files[osp.join(work_dir, osp.basename(args.mgd_config))] = pruned_config(
            args.mgd_config, subnet, pruned, shape, scope
        )
    write_atomically(files)  # the structure, the weights and the configs that name them, together
    print(
        f'FLOPs {before[0]:.3f} G -> {after[0]:.3f} G ({after[0] / before[0]:.1%}), '
        f'params {before[1]:.3f} M -> {after[1]:.3f} M ({args.importance} importance)'
    )
    for path in files:
        print('wrote', osp.relpath(path))


if __name__ == '__main__':
    run_main(main)
