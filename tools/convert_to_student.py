"""Turn a distillation checkpoint into a plain student checkpoint.

The output holds only the student's weights (no teacher, connectors or optimizer state) and
loads with ``strict=True`` into the stock student config, e.g. for ``tools/test.py`` or
deployment.
"""

import argparse
import os
import os.path as osp

import torch

from mgd.utils import compat
from mgd.utils.checkpoint import distill_to_student

compat.allow_mmengine_checkpoints()  # lets torch.load read mmengine's checkpoints


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('checkpoint', help='distillation checkpoint (from tools/train.py)')
    parser.add_argument('out', help='student checkpoint to write')
    args = parser.parse_args()
    checkpoint = torch.load(args.checkpoint, map_location='cpu')
    student = distill_to_student(checkpoint)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    torch.save(student, args.out)
    print(f'{len(student["state_dict"])} student tensors written to {args.out}')


if __name__ == '__main__':
    main()
