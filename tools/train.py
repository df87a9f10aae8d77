"""Train a model (distillation or plain) from a config: thin wrapper over mmengine's Runner."""

import argparse

from mmengine.runner import Runner

import mgd.models  # noqa: F401  (stack fixes; registers the MGD classes)
from mgd.utils.config import add_common_arguments, apply_train_options, load_config
from mgd.utils.errors import run_main
from mgd.utils.launch import setup_launcher
from mgd.utils.preflight import check_data, check_teacher_ckpt
from mgd.utils.run_checks import (
    check_downloads,
    check_resume,
    check_resume_settings,
    check_work_dir,
    lock_work_dir,
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    add_common_arguments(parser)
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        help='resume from this checkpoint, or (no value) from the latest in the work dir',
    )
    parser.add_argument(
        '--allow-changes',
        action='store_true',
        help='--resume although the optimizer, schedule or loss settings changed',
    )
    parser.add_argument('--amp', action='store_true', help='mixed precision (fp16 on CUDA)')
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.allow_new_keys)
    apply_train_options(cfg, args.amp, args.resume)
    check_work_dir(cfg)
    check_data(cfg, 'train')
    check_resume(cfg)
    check_resume_settings(cfg, args.allow_changes)
    check_teacher_ckpt(cfg)
    check_downloads(cfg)
    lock_work_dir(cfg)  # last: a refused run leaves nothing behind
    setup_launcher(cfg, args.launcher)
    Runner.from_cfg(cfg).train()


if __name__ == '__main__':
    run_main(main)
