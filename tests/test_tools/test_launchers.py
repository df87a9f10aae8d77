"""The launch scripts pass what a user gives them, and the CPU (gloo) launch path works."""

import os
import os.path as osp
import socket
import subprocess
import sys
import textwrap

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def fake_srun(tmp_path):
    """An ``srun`` on PATH that records its argv instead of starting a job."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    srun = bin_dir / 'srun'
    srun.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$SRUN_ARGS_FILE"\n')
    srun.chmod(0o755)
    env = dict(
        os.environ,
        PATH=f'{bin_dir}:{os.environ["PATH"]}',
        SRUN_ARGS_FILE=str(tmp_path / 'argv'),
        GPUS='16',
        GPUS_PER_NODE='8',
    )
    return env, tmp_path / 'argv'


def test_slurm_train_passes_resources_and_arguments(tmp_path):
    env, argv_file = fake_srun(tmp_path)
    subprocess.run(
        ['bash', 'tools/slurm_train.sh', 'gpu', 'mgd-job', 'configs/x.py', 'work_dirs/x', '--amp'],
        cwd=ROOT,
        env=env,
        check=True,
    )
    argv = argv_file.read_text().split('\n')
    assert argv[:3] == ['-p', 'gpu', '--job-name=mgd-job']
    assert '--ntasks=16' in argv and '--ntasks-per-node=8' in argv and '--gres=gpu:8' in argv
    tail = argv[argv.index(next(a for a in argv if a.endswith('tools/train.py'))) :]
    assert tail[1:] == [
        'configs/x.py',
        '--work-dir=work_dirs/x',
        '--launcher',
        'slurm',
        '--amp',
        '',
    ]


def test_slurm_test_passes_checkpoint(tmp_path):
    env, argv_file = fake_srun(tmp_path)
    subprocess.run(
        ['bash', 'tools/slurm_test.sh', 'gpu', 'job', 'configs/x.py', 'ckpt.pth'],
        cwd=ROOT,
        env=env,
        check=True,
    )
    argv = argv_file.read_text().split('\n')
    i = argv.index(next(a for a in argv if a.endswith('tools/test.py')))
    assert argv[i + 1 : i + 5] == ['configs/x.py', 'ckpt.pth', '--launcher', 'slurm']


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_setup_launcher_uses_gloo_without_cuda_for_slurm():
    # What srun sets for a 1-task job; MASTER_* as a user's sbatch script exports them.
    env = dict(
        os.environ,
        SLURM_PROCID='0',
        SLURM_NTASKS='1',
        SLURM_LOCALID='0',
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(free_port()),
        CUDA_VISIBLE_DEVICES='',
    )
    code = textwrap.dedent("""
        import torch.distributed as dist
        from mmengine.config import Config
        import mgd.utils.launch
        from mgd.utils.launch import setup_launcher
        cfg = Config(dict(model=dict()))
        setup_launcher(cfg, 'slurm')
        print(dist.get_backend(), dist.get_world_size(), cfg.launcher,
              cfg.model_wrapper_cfg['device_ids'], cfg.env_cfg['dist_cfg']['backend'])
    """)
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines()[-1].split() == ['gloo', '1', 'slurm', 'None', 'gloo']


def test_setup_launcher_leaves_single_process_runs_alone():
    from mmengine.config import Config

    from mgd.utils.launch import setup_launcher

    cfg = Config(dict(model=dict()))
    setup_launcher(cfg, 'none')
    assert cfg.launcher == 'none' and 'model_wrapper_cfg' not in cfg
