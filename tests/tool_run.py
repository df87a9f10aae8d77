"""Runs a repository tool as a user would: ``python ARGS...`` from the repository root."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_tool(*args, check: bool = True) -> subprocess.CompletedProcess:
    """Runs ``python *args`` (paths allowed); with ``check``, fails the test on a non-zero
    exit, showing the ends of stdout and stderr."""
    result = subprocess.run(
        [sys.executable, *map(str, args)], cwd=REPO, capture_output=True, text=True, check=False
    )
    if check:
        assert result.returncode == 0, f'{args}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}'
    return result
