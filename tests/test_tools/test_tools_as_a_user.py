"""The command-line tools run as a user runs them, on a 1-epoch MGD checkpoint of the tiny
demo data: strict testing, the converted student, ``--out``, ``dist_test.sh``, the converter's
refusals and a NaN loss weight."""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from test_resume import train_command
from utils import DEMO_MGD, DEMO_STUDENT, data_options

pytestmark = pytest.mark.usefixtures('one_thread')  # see tests/conftest.py

REPO = DEMO_MGD.parents[2]
TIMEOUT = 300


def run(*command, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS='1')
    result = subprocess.run(
        [str(c) for c in command], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )  # fmt: skip
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def cli_options(data: Path, *extra: str) -> list[str]:
    options = {**data_options(data), 'test_dataloader.dataset.pipeline.1.scale': '(96,96)'}
    return ['--cfg-options', *[f'{k}={v}' for k, v in options.items()], *extra]


@pytest.fixture(scope='module')
def trained(tmp_path_factory, demo_data, teacher_ckpt) -> Path:
    """The demo MGD config trained for one epoch: its checkpoint."""
    work_dir = tmp_path_factory.mktemp('trained')
    command = train_command(work_dir, demo_data, teacher_ckpt)
    command[command.index('train_cfg.max_epochs=3')] = 'train_cfg.max_epochs=1'
    run(*command)
    return work_dir / 'epoch_1.pth'


def test_stock_student_config_refuses_a_distillation_checkpoint(trained, demo_data, tmp_path):
    result = run(
        sys.executable, 'tools/test.py', DEMO_STUDENT, trained, '--work-dir', tmp_path,
        *cli_options(demo_data), check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert f"checkpoint '{trained}' does not fit the config's model" in result.stderr
    assert 'It is a distillation checkpoint' in result.stderr
    assert 'tools/convert_to_student.py' in result.stderr
    assert not (tmp_path / 'test_metrics.json').exists()


def test_distillation_config_refuses_a_teacher_checkpoint(teacher_ckpt, demo_data, tmp_path):
    result = run(
        sys.executable, 'tools/test.py', DEMO_MGD, teacher_ckpt, '--work-dir', tmp_path,
        *cli_options(demo_data), check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert 'The config is a distillation config' in result.stderr
    assert not (tmp_path / 'test_metrics.json').exists()


def test_converted_student_predicts_exactly_what_the_distillation_checkpoint_did(
    trained, demo_data, tmp_path
):
    student = tmp_path / 'student.pth'
    run(sys.executable, 'tools/convert_to_student.py', trained, student)
    outs = {}
    for name, config, checkpoint in (
        ('distill', DEMO_MGD, trained),
        ('student', DEMO_STUDENT, student),
    ):
        outs[name] = tmp_path / f'{name}.pkl'
        run(
            sys.executable, 'tools/test.py', config, checkpoint, '--work-dir', tmp_path / name,
            '--out', outs[name], *cli_options(demo_data, 'model.test_cfg.score_thr=0.0')
            if name == 'student'
            else cli_options(demo_data, 'model.architecture.test_cfg.score_thr=0.0'),
        )  # fmt: skip
    distill, converted = (pickle.loads(outs[n].read_bytes()) for n in ('distill', 'student'))
    assert len(distill) == len(converted) == 4  # the 4 validation images
    for a, b in zip(distill, converted):
        assert a['img_path'] == b['img_path']
        for key in ('bboxes', 'scores', 'labels'):
            assert (a['pred_instances'][key] == b['pred_instances'][key]).all(), key
        assert len(a['pred_instances']['scores']) > 0


def test_dist_test_evaluates_every_image_once(trained, demo_data, tmp_path):
    out = tmp_path / 'dist.pkl'
    result = run(
        'bash', 'tools/dist_test.sh', DEMO_MGD, trained, 2, '--work-dir', tmp_path,
        '--out', out, *cli_options(demo_data, 'model.architecture.test_cfg.score_thr=0.0'),
    )  # fmt: skip
    assert 'coco/bbox_mAP:' in result.stdout
    predictions = pickle.loads(out.read_bytes())
    assert sorted(p['img_id'] for p in predictions) == [1, 2, 3, 4][: len(predictions)]
    assert len(predictions) == 4
    assert (tmp_path / 'test_metrics.json').is_file()


def test_converter_never_writes_over_its_input_or_an_existing_file(trained, tmp_path):
    digest = hashlib.sha256(trained.read_bytes()).hexdigest()
    for force in ([], ['--force']):
        result = run(
            sys.executable, 'tools/convert_to_student.py', trained, trained, *force, check=False
        )
        assert result.returncode != 0 and 'is the input checkpoint' in result.stderr
    existing = tmp_path / 'existing.pth'
    existing.write_bytes(b'keep me')
    result = run(sys.executable, 'tools/convert_to_student.py', trained, existing, check=False)
    assert (
        result.returncode != 0
        and 'already exists' in result.stderr
        and '--force' in (result.stderr)
    )
    assert existing.read_bytes() == b'keep me'
    run(sys.executable, 'tools/convert_to_student.py', trained, existing, '--force')
    assert existing.read_bytes() != b'keep me'
    assert oct(existing.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert hashlib.sha256(trained.read_bytes()).hexdigest() == digest


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_nan_loss_weight_is_refused_before_training(demo_data, teacher_ckpt, tmp_path):
    command = train_command(tmp_path, demo_data, teacher_ckpt)
    command.append('model.distiller.distill_losses.loss_mgd_neck0.alpha_mgd=nan')
    result = run(*command, check=False)
    assert result.returncode != 0
    assert 'alpha_mgd must be a finite number >= 0, got nan' in result.stderr
    assert not list(tmp_path.glob('*.pth'))
