"""The launch scripts pass what a user gives them, and the CPU (gloo) launch path works."""

import os
import os.path as osp
import socket
import subprocess
import sys
import textwrap

import pytest

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


# --- tools/dist_{train,test}.sh: a port that is taken ------------------------------------------

DIST_SCRIPTS = {
    'dist_train.sh': ['configs/x.py', '1'],
    'dist_test.sh': ['configs/x.py', 'ckpt.pth', '1'],
}


def run_dist(tmp_path, script: str, **env_vars) -> tuple[subprocess.CompletedProcess, list]:
    """Runs a dist script with a ``PYTHON`` that records the torchrun call (``-m ...``) instead
    of starting it, and runs anything else (the port checks) with the real interpreter."""
    fake = tmp_path / 'python'
    argv_file = tmp_path / 'torchrun-argv'
    fake.write_text(
        '#!/bin/sh\n'
        f'if [ "$1" = -m ]; then printf "%s\\n" "$@" > {argv_file}; exit 0; fi\n'
        f'exec {sys.executable} "$@"\n'
    )
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ('PORT', 'NNODES', 'NODE_RANK')}
    env.update(PYTHON=str(fake), MASTER_ADDR='127.0.0.1', **env_vars)
    result = subprocess.run(
        ['bash', f'tools/{script}', *DIST_SCRIPTS[script]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    argv = argv_file.read_text().splitlines() if argv_file.exists() else []
    return result, argv


def taken_port(port: int = 0) -> socket.socket:
    """A listening socket on ``port`` (0: any); an already taken ``port`` is fine too."""
    s = socket.socket()
    try:
        s.bind(('127.0.0.1', port))
        s.listen()
    except OSError:  # someone else holds it: taken all the same
        pass
    return s


def master_port(argv: list) -> str:
    return next(a.split('=', 1)[1] for a in argv if a.startswith('--master_port='))


@pytest.mark.parametrize('script', DIST_SCRIPTS)
def test_dist_scripts_stop_on_a_taken_port(tmp_path, script):
    with taken_port() as s:
        port = s.getsockname()[1]
        result, argv = run_dist(tmp_path, script, PORT=str(port))
    assert result.returncode != 0 and argv == []  # stopped before torchrun
    assert str(port) in result.stderr and 'PORT=' in result.stderr
    # several nodes must agree on the port, so the default is checked rather than replaced
    with taken_port(29500):
        result, argv = run_dist(tmp_path, script, NNODES='2', NODE_RANK='0')
    assert result.returncode != 0 and argv == []
    assert '29500' in result.stderr and 'PORT=' in result.stderr


@pytest.mark.parametrize('script', DIST_SCRIPTS)
def test_dist_scripts_pick_a_free_port(tmp_path, script):
    with taken_port(29500):
        result, argv = run_dist(tmp_path, script)
    assert result.returncode == 0, result.stderr
    port = master_port(argv)
    assert port.isdigit() and port != '29500'
    assert argv[:2] == ['-m', 'torch.distributed.run'] and '--launcher' in argv
    # a free PORT that is set is passed on as it is
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        free = s.getsockname()[1]
    result, argv = run_dist(tmp_path, script, PORT=str(free))
    assert result.returncode == 0, result.stderr
    assert master_port(argv) == str(free)
