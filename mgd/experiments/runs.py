"""Training and testing one run of an experiment as a user would: ``tools/train.py`` (or
``tools/dist_train.sh``) and ``tools/test.py`` in subprocesses, each logged to a file.

``tools/demo.py`` and ``tools/neu_cls.py`` run their experiments with these, so that a killed
experiment continues where it stopped: a finished run is not trained again, a half-finished
one resumes from its last checkpoint (exactly, with ``mgd.RNGStateHook``), and a test result
newer than its checkpoint is not computed again.
"""

from __future__ import annotations

import json
import os.path as osp
import subprocess

from mmengine.runner import find_latest_checkpoint


def run_logged(cmd: list[str], log: str, env: dict, cwd: str) -> None:
    """Runs ``cmd`` in ``cwd``, its output into ``log``; raises SystemExit with the log's tail."""
    with open(log, 'w') as f:
        result = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if result.returncode:
        with open(log) as f:
            tail = ''.join(f.readlines()[-30:])
        raise SystemExit(
            f'error: failed ({result.returncode}): {" ".join(cmd)}\n{tail}\nfull log: {log}'
        )


def is_trained(run_dir: str, final: str) -> bool:
    """Whether ``run_dir``'s last checkpoint is ``final`` (the run's last epoch)."""
    return osp.isfile(final) and find_latest_checkpoint(run_dir) == final


def train_run(
    train: list[str], options: list[str], run_dir: str, final: str, log: str, env: dict, cwd: str
) -> bool:
    """Trains unless ``final`` is already the run's last checkpoint; resumes a half-done run.

    Args:
        train: the command up to its arguments, e.g. ``[python, 'tools/train.py', config]`` or
            ``['bash', 'tools/dist_train.sh', config, '2']``.
        options: its ``--cfg-options``.
        run_dir: the run's work dir.
        final: the checkpoint of its last epoch.
        log, env, cwd: as :func:`run_logged`.

    Returns:
        True if it trained now, False if it was trained before.
    """
    if is_trained(run_dir, final):
        return False
    resume = ['--resume'] if find_latest_checkpoint(run_dir) else []
    run_logged([*train, '--work-dir', run_dir, *resume, '--cfg-options', *options], log, env, cwd)
    return True


def test_run(
    python: str,
    config: str,
    final: str,
    options: list[str],
    test_dir: str,
    log: str,
    env: dict,
    cwd: str,
) -> dict:
    """``tools/test.py config final`` into ``test_dir``, unless a result newer than ``final``
    is there; returns the metrics (``test_dir/test_metrics.json``)."""
    result = osp.join(test_dir, 'test_metrics.json')
    if not (osp.isfile(result) and osp.getmtime(result) > osp.getmtime(final)):
        cmd = [python, 'tools/test.py', config, final, '--work-dir', test_dir]
        run_logged([*cmd, '--cfg-options', *options], log, env, cwd)
    with open(result) as f:
        return json.load(f)
