"""The project's one atomic file writer: a file is either complete or not there."""

from __future__ import annotations

import os
import os.path as osp
import tempfile
from collections.abc import Mapping

__all__ = ['TMP_SUFFIX', 'write_atomically']

TMP_SUFFIX = '.tmp'


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(contents: Mapping[str, str | bytes]) -> None:
    """Writes several files so that either all of them appear complete, or none is touched.

    Each file is written to a hidden temporary file in its target folder (``.NAME.*.tmp``)
    and flushed to disk; only when all are written are they renamed into place (``os.replace``
    is atomic within a file system). The files get the permissions of any other new file
    (``0o666`` less the umask), not ``mkstemp``'s private ``0o600``.

    Args:
        contents: target path -> text or bytes.
    """
    temps: dict[str, str] = {}
    mode = 0o666 & ~_umask()
    try:
        for path, data in contents.items():
            folder = osp.dirname(osp.abspath(path))
            os.makedirs(folder, exist_ok=True)
            fd, temp = tempfile.mkstemp(
                prefix=f'.{osp.basename(path)}.', suffix=TMP_SUFFIX, dir=folder
            )
            temps[path] = temp
            with os.fdopen(fd, 'wb') as f:
                f.write(data.encode('utf-8') if isinstance(data, str) else data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(temp, mode)
        for path, temp in temps.items():
            os.replace(temp, path)
    finally:
        for temp in temps.values():
            if osp.exists(temp):
                os.remove(temp)
