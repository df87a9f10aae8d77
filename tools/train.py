"""Train a model (distillation or plain) from a config: thin wrapper over mmengine's Runner."""

import argparse

from mmengine.runner import Runner

import mgd  # noqa: F401  (stack fixes; registers the MGD classes)
from mgd.checks import check_data, check_resume, check_teacher_ckpt
from mgd.hooks import use_resumable_hooks
from mgd.runner import DictAction, load_config, setup_launcher


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--work-dir', help='where logs and checkpoints go (default: work_dirs/<config name>)'
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        help='resume from this checkpoint, or (no value) from the latest in the work dir',
    )
    parser.add_argument('--amp', action='store_true', help='mixed precision (fp16 on CUDA)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. model.teacher_ckpt=/path/teacher.pth',
    )
    parser.add_argument(
        '--allow-new-keys',
        action='store_true',
        help='let --cfg-options add keys that the config does not have',
    )
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.allow_new_keys)
    use_resumable_hooks(cfg)  # crash-safe checkpoints that hold the random generators' state
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    check_data(cfg, 'train')
    check_resume(cfg)
    check_teacher_ckpt(cfg)
    setup_launcher(cfg, args.launcher)
    Runner.from_cfg(cfg).train()


if __name__ == '__main__':
    main()
