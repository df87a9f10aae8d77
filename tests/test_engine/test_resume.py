"""A distillation run killed with SIGKILL mid-epoch and restarted with ``tools/train.py
--resume`` ends with exactly the weights, optimizer and scheduler state of an uninterrupted run.

The demo MGD config on 8 tiny images: batch 2, 3 epochs of 4 iterations (12 in all), a
checkpoint and a validation after every epoch, deterministic, ``num_workers=0``. Run as a
user runs it: three ``tools/train.py`` processes (about 15 s each on a loaded 2-core CPU).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from utils import DEMO_MGD, data_options

from mgd.utils.checkpoint import read_state_dict

pytestmark = pytest.mark.usefixtures('one_thread')  # see tests/conftest.py

TRAIN = DEMO_MGD.parents[2] / 'tools' / 'train.py'
TIMEOUT = 300


def train_command(work_dir: Path, data: Path, teacher: Path, resume: bool | Path = False) -> list:
    options = {
        **data_options(data),
        'model.teacher_ckpt': teacher,
        'train_cfg.max_epochs': 3,
        'train_cfg.val_interval': 1,
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False,
        'train_dataloader.dataset.pipeline.2.scale': '(96,96)',  # Resize
        'val_dataloader.dataset.pipeline.1.scale': '(96,96)',
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.logger.interval': 1,
        'randomness.deterministic': True,  # randomness.seed=0 is in the config
    }
    return [
        sys.executable,
        str(TRAIN),
        str(DEMO_MGD),
        '--work-dir',
        str(work_dir),
        *(['--resume'] if resume is True else ['--resume', str(resume)] if resume else []),
        '--cfg-options',
        *[f'{key}={value}' for key, value in options.items()],
    ]


def run(command: list, log: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS='1')
    with open(log, 'w') as out:
        result = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=TIMEOUT, check=False
        )
    assert result.returncode == 0, log.read_text()[-3000:]


def kill_mid_epoch_2(command: list, work_dir: Path, log: Path) -> None:
    """Starts training and SIGKILLs it once it logged iteration 2 of epoch 2."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    with open(log, 'w') as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + TIMEOUT
        try:
            while time.monotonic() < deadline and process.poll() is None:
                # mmengine's file log (flushed per line) is <work_dir>/<timestamp>/<timestamp>.log
                if any('Epoch(train) [2][2/4]' in p.read_text() for p in work_dir.glob('*/*.log')):
                    os.kill(process.pid, signal.SIGKILL)
                    break
                time.sleep(0.05)
        finally:
            if process.poll() is None and time.monotonic() >= deadline:
                process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL, log.read_text()[-3000:]


def assert_same(a, b, path: str = '') -> None:
    """Tensors equal bit for bit, everything else equal, all the way down."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_same(a[key], b[key], f'{path}.{key}')
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f'{path}.{i}')
    else:
        assert a == b, path


@pytest.fixture(scope='module')
def runs(tmp_path_factory, demo_data, teacher_ckpt) -> dict[str, Path]:
    root = tmp_path_factory.mktemp('resume')
    full, cut = root / 'full', root / 'cut'
    run(train_command(full, demo_data, teacher_ckpt), root / 'full.log')
    kill_mid_epoch_2(train_command(cut, demo_data, teacher_ckpt), cut, root / 'killed.log')
    killed_state = dict(
        last=(cut / 'last_checkpoint').read_text(), files=sorted(p.name for p in cut.glob('*.pth*'))
    )
    kept = root / 'kept_epoch_1.pth'  # the auto-resumed run deletes epoch_1.pth later
    shutil.copyfile(cut / 'epoch_1.pth', kept)
    run(train_command(cut, demo_data, teacher_ckpt, resume=True), root / 'resumed.log')
    explicit = root / 'explicit'  # --resume PATH into a fresh work dir
    run(train_command(explicit, demo_data, teacher_ckpt, resume=kept), root / 'explicit.log')
    return dict(
        full=full,
        cut=cut,
        explicit=explicit,
        kept=kept,
        resumed_log=root / 'resumed.log',
        explicit_log=root / 'explicit.log',
        killed=killed_state,
    )


def test_kill_left_the_epoch_1_checkpoint(runs):
    assert runs['killed'] == dict(last=str(runs['cut'] / 'epoch_1.pth'), files=['epoch_1.pth'])


def test_resume_continued_from_it(runs):
    log = runs['resumed_log'].read_text()
    assert f'Auto resumed from the latest checkpoint {runs["cut"] / "epoch_1.pth"}' in log
    assert 'resumed epoch: 1, iter: 4' in log
    assert 'Epoch(train) [1]' not in log and 'Epoch(train) [3][4/4]' in log


def test_explicit_resume_path_continues_from_that_file(runs):
    log = runs['explicit_log'].read_text()
    assert 'resumed epoch: 1, iter: 4' in log and 'Epoch(train) [1]' not in log
    full = torch.load(runs['full'] / 'epoch_3.pth', weights_only=True)
    explicit = torch.load(runs['explicit'] / 'epoch_3.pth', weights_only=True)
    assert_same(full['state_dict'], explicit['state_dict'], 'state_dict')
    assert_same(full['optimizer'], explicit['optimizer'], 'optimizer')


def test_final_state_equals_the_uninterrupted_run(runs):
    full = torch.load(runs['full'] / 'epoch_3.pth', weights_only=True)
    resumed = torch.load(runs['cut'] / 'epoch_3.pth', weights_only=True)
    assert full['meta']['epoch'] == resumed['meta']['epoch'] == 3
    assert full['meta']['iter'] == resumed['meta']['iter'] == 12
    connector = 'distiller.connectors.mgd_neck0.generation.0.weight'
    assert connector in full['state_dict']
    assert_same(full['state_dict'], resumed['state_dict'], 'state_dict')
    assert_same(full['optimizer'], resumed['optimizer'], 'optimizer')  # momentum buffers too
    assert_same(full['param_schedulers'], resumed['param_schedulers'], 'param_schedulers')
    assert_same(full['rng_state'], resumed['rng_state'], 'rng_state')


def test_runner_checkpoint_reads_as_a_teacher_checkpoint(runs):
    state_dict = read_state_dict(str(runs['full'] / 'epoch_3.pth'))  # weights_only=True
    assert 'architecture.neck.fpn_convs.0.conv.weight' in state_dict
