"""The project's one writer of files that must never be seen half-written.

``write_atomically`` replaces single files; ``write_folder_atomically`` replaces a set of files
that belong together (a data set's annotation files) as one unit, and ``restore_folder`` undoes
what a kill in its middle can leave; ``check_writable_folder`` says, before any work is done,
that an output folder can be made and written.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import os.path as osp
import shutil
import stat
import sys
import tempfile
from collections.abc import Mapping

from mgd.utils.errors import Refusal

__all__ = [
    'TMP_SUFFIX',
    'NotWritableError',
    'check_writable_folder',
    'restore_folder',
    'write_atomically',
    'write_folder_atomically',
]

TMP_SUFFIX = '.tmp'
_PROBE = 'write-check'
_OLD = '-old'


class NotWritableError(Refusal, OSError):
    """An output folder cannot be made or written; the message names it and what to do."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _is_temp_of(entry: str, name: str) -> bool:
    """Whether ``entry`` is a temporary this module makes for ``name`` (``.NAME.*.tmp``)."""
    prefix = f'.{name}.'
    return entry.startswith(prefix) and entry.endswith(TMP_SUFFIX) and len(entry) > len(prefix)


def _remove(path: str) -> None:
    if osp.isdir(path) and not osp.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def _remove_stale_temps(folder: str, name: str) -> None:
    """Removes the temporaries for ``folder/name`` that killed runs left behind."""
    for entry in os.listdir(folder):
        if _is_temp_of(entry, name):
            _remove(osp.join(folder, entry))


def _write_file(path: str, data: str | bytes, mode: int, fd: int | None = None) -> None:
    """Writes ``data`` to the new file ``path`` (or to ``fd``, open on it) and flushes it to
    disk."""
    with os.fdopen(fd, 'wb') if fd is not None else open(path, 'xb') as f:
        f.write(data.encode('utf-8') if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, mode)


def _fsync_folder(path: str) -> None:
    """Makes the renames in ``path`` durable (where folders can be opened; not on Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(contents: Mapping[str, str | bytes]) -> None:
    """Replaces each file at once: a reader sees it complete, old or new, never half-written.

    Each file is written to a hidden temporary file in its target folder (``.NAME.*.tmp``),
    flushed to disk and renamed into place (``os.replace`` is atomic within a file system);
    temporaries that killed earlier runs left for the same name are removed first. The files
    get the permissions of any other new file (``0o666`` less the umask), not ``mkstemp``'s
    private ``0o600``. Several files are renamed one by one, so a kill between two renames
    leaves some old and some new: files that belong together go through
    ``write_folder_atomically``.

    Args:
        contents: target path -> text or bytes.
    """
    temps: dict[str, str] = {}
    mode = 0o666 & ~_umask()
    try:
        for path, data in contents.items():
            folder, name = osp.split(osp.abspath(path))
            os.makedirs(folder, exist_ok=True)
            _remove_stale_temps(folder, name)
            fd, temp = tempfile.mkstemp(prefix=f'.{name}.', suffix=TMP_SUFFIX, dir=folder)
            temps[path] = temp
            _write_file(temp, data, mode, fd)
        for path, temp in temps.items():
            os.replace(temp, path)
    finally:
        for temp in temps.values():
            if osp.exists(temp):
                os.remove(temp)


_RENAME_EXCHANGE, _AT_FDCWD = 2, -100
_renameat2 = None


def _exchange(a: str, b: str) -> bool:
    """Swaps two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); ``False`` where the
    system or the file system cannot, and nothing was changed."""
    global _renameat2
    if not sys.platform.startswith('linux'):
        return False
    if _renameat2 is None:
        try:
            _renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
        except (AttributeError, OSError):  # a C library without it (glibc < 2.28, musl)
            _renameat2 = False
        else:
            _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p] * 2 + [ctypes.c_uint]
    if not _renameat2:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(error, os.strerror(error), a, None, b)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _carry_over(old: str, new: str, replaced: Mapping[str, object]) -> None:
    """Puts into ``new`` what else ``old`` holds (hard links where possible), leaving out the
    files being replaced and their stale temporaries."""
    for entry in os.scandir(old):
        if entry.name in replaced or any(_is_temp_of(entry.name, n) for n in replaced):
            continue
        target = osp.join(new, entry.name)
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
        elif entry.is_dir():
            shutil.copytree(entry.path, target, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(entry.path, target)


def restore_folder(folder: str) -> None:
    """Puts back the old ``folder`` that a kill between the two renames of the fallback swap
    (see ``write_folder_atomically``) left beside it as ``.FOLDER.*-old.tmp``; it is complete.
    Nothing happens when ``folder`` exists."""
    folder = osp.realpath(folder)
    parent, name = osp.split(folder)
    if osp.lexists(folder) or not osp.isdir(parent):
        return
    for entry in sorted(os.listdir(parent)):
        if _is_temp_of(entry, name) and entry.endswith(_OLD + TMP_SUFFIX):
            os.replace(osp.join(parent, entry), folder)
            return


def write_folder_atomically(folder: str, contents: Mapping[str, str | bytes | None]) -> None:
    """Writes files into ``folder`` as one unit: a reader sees all old or all new, never a mix.

    The files are written into a new hidden sibling folder (``.FOLDER.*.tmp``, same file
    system), together with hard links to (or copies of) whatever else ``folder`` holds, and
    flushed to disk; then the two folders are swapped. On Linux the swap is one
    ``renameat2(RENAME_EXCHANGE)``, so ``folder`` always exists and is complete, old or new;
    where the file system cannot exchange, ``folder`` is renamed aside (``.FOLDER.*-old.tmp``)
    and the new one renamed into place, so a kill between these two renames leaves ``folder``
    absent (a reader fails loudly) but never mixed. The old folder is then removed, and so are
    the ``.FOLDER.*.tmp`` siblings that killed runs left: each run first puts back an old
    folder that a kill left aside (``restore_folder``), then removes the rest (two runs at
    once into one folder are not supported: one of them fails). A symlinked ``folder`` is
    followed: its target is replaced. The new folder keeps the old one's permissions (a new
    one gets ``0o777`` less the umask); files get ``0o666`` less the umask.

    Args:
        folder: the folder to (re)place, created with its parents if needed.
        contents: file name (no sub-folders) -> text or bytes; ``None`` removes the file (in
            the same swap).
    """
    for name in contents:
        if not name or osp.basename(name) != name or name in ('.', '..'):
            raise ValueError(f'{name!r}: a plain file name is needed (no folders)')
    folder = osp.realpath(folder)
    parent, name = osp.split(folder)
    os.makedirs(parent, exist_ok=True)
    if osp.lexists(folder) and not osp.isdir(folder):
        raise NotADirectoryError(errno.ENOTDIR, 'not a folder, cannot replace it', folder)
    restore_folder(folder)
    _remove_stale_temps(parent, name)
    umask = _umask()
    temp = tempfile.mkdtemp(prefix=f'.{name}.', suffix=TMP_SUFFIX, dir=parent)
    try:
        if osp.isdir(folder):
            _carry_over(folder, temp, contents)
            os.chmod(temp, stat.S_IMODE(os.stat(folder).st_mode))
        else:
            os.chmod(temp, 0o777 & ~umask)
        for file_name, data in contents.items():
            if data is not None:
                _write_file(osp.join(temp, file_name), data, 0o666 & ~umask)
        _fsync_folder(temp)
        if not osp.isdir(folder):
            os.replace(temp, folder)
        elif not _exchange(temp, folder):  # after an exchange, ``temp`` holds the old set
            old = temp[: -len(TMP_SUFFIX)] + _OLD + TMP_SUFFIX
            os.replace(folder, old)
            try:
                os.replace(temp, folder)
            except BaseException:
                os.replace(old, folder)  # put the old set back, unless this fails too
                raise
            temp = old
        _fsync_folder(parent)
    finally:
        if osp.lexists(temp):
            shutil.rmtree(temp, ignore_errors=True)


def check_writable_folder(path: str, argument: str) -> None:
    """Raises ``NotWritableError`` unless ``path`` is, or can be made, a folder this process
    can write into; nothing is left behind (an empty probe folder is made and removed).

    Args:
        path: the output folder.
        argument: how the user gave it (e.g. ``'out_dir'``), for the message.
    """
    path = osp.abspath(path)
    existing = path
    while not osp.isdir(existing):
        if osp.lexists(existing):
            raise NotWritableError(
                f'cannot write {argument} {path}: {existing} is in the way (it is a file, not '
                f'a folder). Nothing was written; move that file away or pass another '
                f'{argument}.'
            )
        existing = osp.dirname(existing)
    with contextlib.suppress(OSError):  # probes that killed runs left (empty folders)
        for entry in os.listdir(existing):
            if _is_temp_of(entry, _PROBE):
                os.rmdir(osp.join(existing, entry))
    try:
        probe = tempfile.mkdtemp(prefix=f'.{_PROBE}.', suffix=TMP_SUFFIX, dir=existing)
    except OSError as e:
        raise NotWritableError(
            f'cannot write {argument} {path}: cannot create files in {existing} '
            f'({e.strerror or e}). Nothing was written; pass an {argument} on a writable disk, '
            f'or make {existing} writable for this user.'
        ) from None
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(probe)
