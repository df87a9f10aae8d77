"""The project's refusals, and the one way a tool reports them.

A refusal is an error the user can fix: a bad config key, flag, path, data or checkpoint. Its
message names the file, key or flag and says what to do. It is raised as a ``Refusal`` that is
also the builtin exception callers expect (``ConfigError`` is a ``ValueError``,
``MissingFileError`` a ``FileNotFoundError``, ``CheckpointError`` a ``RuntimeError``), so code
that catches the builtin keeps working.

Every tool ends with ``run_main(main)``: a refusal prints one ``error: ...`` message on stderr
(its lines as written, no traceback) and exits with status 1; any other exception is unexpected
and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class Refusal(Exception):
    """An error the user can fix; the message says which input and how."""


class ConfigError(Refusal, ValueError):
    """A config key, a flag or the data it names is wrong."""


class MissingFileError(Refusal, FileNotFoundError):
    """A file or folder the run needs does not exist."""


class CheckpointError(Refusal, RuntimeError):
    """A checkpoint cannot be read, or does not fit the model."""


class AccessError(Refusal, PermissionError):
    """A folder the run writes to cannot be written."""


def refusal_of(err: BaseException) -> Refusal | None:
    """``err`` if it is a refusal, else the refusal it was raised from (``raise ... from``, or
    raised while handling one), else ``None``."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, Refusal):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def run_main(main: Callable[[], object]) -> None:
    """Runs a tool's ``main``; a refusal becomes one ``error:`` message and exit status 1."""
    try:
        main()
    except Exception as err:  # noqa: BLE001 - re-raised unless it is a refusal
        found = refusal_of(err)
        if found is None:
            raise
        print(f'error: {found}', file=sys.stderr, flush=True)
        sys.exit(1)
