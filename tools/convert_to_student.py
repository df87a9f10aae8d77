"""Turn a distillation checkpoint into a plain student checkpoint.

The output holds only the student's weights (no teacher, connectors or optimizer state) and
loads with ``strict=True`` into the stock student config, e.g. for ``tools/test.py`` or
deployment. An existing output is kept unless ``--force``; the input is never written over.
"""

import argparse
import io
import os.path as osp

import torch

from mgd.compat import stack
from mgd.utils.checkpoint import load_from_local
from mgd.utils.distill_config import distill_to_student
from mgd.utils.errors import run_main
from mgd.utils.fileio import write_atomically

stack.allow_mmengine_checkpoints()  # lets the weights-only loader read mmengine's checkpoints


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('checkpoint', help='distillation checkpoint (from tools/train.py)')
    parser.add_argument('out', help='student checkpoint to write')
    parser.add_argument('--force', action='store_true', help='replace an existing OUT')
    args = parser.parse_args()
    if osp.exists(args.out) and osp.samefile(args.out, args.checkpoint):
        raise SystemExit(
            f'error: out {args.out!r} is the input checkpoint: write the student to another '
            'file; the distillation checkpoint is never replaced.'
        )
    if osp.exists(args.out) and not args.force:
        raise SystemExit(
            f'error: out {args.out!r} already exists: choose another path, or pass --force to '
            'replace it.'
        )
    try:
        student = distill_to_student(load_from_local(args.checkpoint))
        buffer = io.BytesIO()
        torch.save(student, buffer)
        write_atomically({args.out: buffer.getvalue()})
    except (OSError, RuntimeError, ValueError) as err:
        raise SystemExit(f'error: {err}') from None
    print(f'{len(student["state_dict"])} student tensors written to {args.out}')


if __name__ == '__main__':
    run_main(main)
