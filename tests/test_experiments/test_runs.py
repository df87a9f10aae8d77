"""One experiment run: trained once, resumed when half done, tested once per checkpoint."""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from mgd.experiments import runs
from mgd.experiments.runs import is_trained, run_logged, train_run

# stands in for tools/train.py and tools/test.py: records its arguments, writes what they write
FAKE = """
import json, os, sys
args = sys.argv[1:]
with open(os.environ['CALLS'], 'a') as f:
    f.write(json.dumps(args) + '\\n')
work_dir = args[args.index('--work-dir') + 1]
os.makedirs(work_dir, exist_ok=True)
if 'train' in sys.argv[0]:
    open(os.path.join(work_dir, 'epoch_2.pth'), 'w').close()
    with open(os.path.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(os.path.join(work_dir, 'epoch_2.pth'))
else:
    with open(os.path.join(work_dir, 'test_metrics.json'), 'w') as f:
        json.dump({'coco/bbox_mAP': 0.25}, f)
"""


@pytest.fixture
def fake_tools(tmp_path):
    (tmp_path / 'tools').mkdir()
    for name in ('train.py', 'test.py'):
        (tmp_path / 'tools' / name).write_text(FAKE)
    calls = tmp_path / 'calls.jsonl'
    return tmp_path, dict(os.environ, CALLS=str(calls)), calls


def read_calls(calls):
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def test_a_run_trains_once_and_resumes_a_half_done_one(fake_tools):
    cwd, env, calls = fake_tools
    run_dir = cwd / 'run'
    final = str(run_dir / 'epoch_2.pth')
    train = [sys.executable, 'tools/train.py', 'cfg.py']
    log = str(cwd / 'train.log')
    assert train_run(train, ['a=1'], str(run_dir), final, log, env, str(cwd))
    assert read_calls(calls)[-1] == ['cfg.py', '--work-dir', str(run_dir), '--cfg-options', 'a=1']
    assert is_trained(str(run_dir), final)
    assert not train_run(train, ['a=1'], str(run_dir), final, log, env, str(cwd))  # skipped
    assert len(read_calls(calls)) == 1
    # half done: a checkpoint of an earlier epoch -> --resume
    (run_dir / 'epoch_1.pth').write_text('')
    (run_dir / 'last_checkpoint').write_text(str(run_dir / 'epoch_1.pth'))
    assert not is_trained(str(run_dir), final)
    assert train_run(train, ['a=1'], str(run_dir), final, log, env, str(cwd))
    assert '--resume' in read_calls(calls)[-1]


def test_a_test_result_newer_than_the_checkpoint_is_reused(fake_tools):
    cwd, env, calls = fake_tools
    final = cwd / 'epoch_2.pth'
    final.write_text('')
    args = (sys.executable, 'cfg.py', str(final), [], str(cwd / 'test'), str(cwd / 't.log'), env)
    assert runs.test_run(*args, str(cwd)) == {'coco/bbox_mAP': 0.25}
    assert runs.test_run(*args, str(cwd)) == {'coco/bbox_mAP': 0.25}
    assert len(read_calls(calls)) == 1
    later = time.time() + 5
    os.utime(final, (later, later))  # a newer checkpoint: tested again
    runs.test_run(*args, str(cwd))
    assert len(read_calls(calls)) == 2


def test_a_failed_command_shows_its_log(tmp_path):
    with pytest.raises(SystemExit, match='failed \\(3\\).*boom'):
        cmd = [sys.executable, '-c', 'print("boom"); raise SystemExit(3)']
        run_logged(cmd, str(tmp_path / 'x.log'), dict(os.environ), str(tmp_path))
