"""Checks of the run itself, before it starts: where it writes, what it resumes, what it
downloads.

``tools/train.py`` (and ``tools/test.py`` for the work dir) call them after the data checks of
``mgd.utils.preflight``:

* ``check_work_dir``: a ``--work-dir`` that cannot be created or written;
* ``lock_work_dir``: a ``--work-dir`` that another training run is using;
* ``check_resume``: a ``last_checkpoint`` or ``--resume PATH`` naming a file that is gone;
* ``check_resume_settings``: ``--resume`` with changed optimizer, schedule or loss settings;
* ``check_downloads``: a ``load_from`` or ``Pretrained`` checkpoint URL that is neither cached
  nor reachable (a machine without internet).
"""

from __future__ import annotations

import os
import os.path as osp
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping

from mmengine.config import Config
from mmengine.runner import find_latest_checkpoint

from mgd.utils.cfg_options import config_items
from mgd.utils.checkpoint import is_url
from mgd.utils.errors import AccessError, ConfigError, MissingFileError

__all__ = [
    'check_downloads',
    'check_resume',
    'check_resume_settings',
    'check_work_dir',
    'lock_work_dir',
]


def check_work_dir(cfg: Config) -> None:
    """Creates ``cfg.work_dir`` and checks that files can be written there, before the run.

    Raises:
        PermissionError: naming the folder and the ``--work-dir`` flag.
    """
    work_dir = cfg.work_dir
    try:
        os.makedirs(work_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=work_dir):
            pass
    except OSError as err:
        raise AccessError(
            f'--work-dir {work_dir!r} cannot be created or written ({type(err).__name__}: '
            f'{err.strerror or err}): pass a folder you can write with --work-dir DIR.'
        ) from None


LOCK_FILE = '.mgd-train.lock'
_held_locks: dict = {}  # lock file -> its open handle in this process (released when it ends)


def lock_work_dir(cfg: Config) -> None:
    """Refuses a work dir that another training run is using; holds it for this process.

    The lock is ``flock`` on ``WORK_DIR/.mgd-train.lock``: the system releases it when the
    process ends, however it ends, so a killed run leaves nothing stuck. Only the first rank
    of a distributed run takes it. Where the file system has no ``flock``, nothing is locked.

    Raises:
        AccessError: naming the work dir and the run holding it (its pid).
    """
    import fcntl

    if int(os.environ.get('RANK', '0')) != 0:
        return
    path = osp.realpath(osp.join(cfg.work_dir, LOCK_FILE))
    if path in _held_locks:
        return  # this process holds it already (a tool called twice in one process)
    handle = open(path, 'a+')  # noqa: SIM115 - held open for the life of the process
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or 'another process'
        handle.close()
        raise AccessError(
            f'--work-dir {cfg.work_dir!r} is in use by another training run ({holder}); its '
            'checkpoints and config would be overwritten. Wait for it to end, or pass another '
            '--work-dir.'
        ) from None
    except OSError:
        handle.close()
        return  # no flock on this file system
    handle.seek(0)
    handle.truncate()
    handle.write(f'pid {os.getpid()} on {os.uname().nodename}')
    handle.flush()
    _held_locks[path] = handle


def check_resume(cfg: Config) -> None:
    """With ``resume``, checks that the checkpoint to resume from exists.

    That is ``load_from`` if set (``--resume PATH``), else the file that
    ``<work_dir>/last_checkpoint`` names: mmengine fails late, with a bare "file not found",
    when it was deleted or moved.
    """
    if not cfg.get('resume'):
        return
    load_from = cfg.get('load_from')
    if load_from:
        if not is_url(load_from) and not osp.isfile(load_from):
            raise MissingFileError(f'--resume: checkpoint {load_from!r} does not exist.')
        return
    pointer = osp.join(cfg.work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return  # mmengine starts from scratch (and says so): the first run of a job
    target = find_latest_checkpoint(cfg.work_dir)
    if not target or (not is_url(target) and not osp.isfile(target)):
        raise MissingFileError(
            f'--resume: {pointer} names {target!r}, which does not exist. Pass the checkpoint '
            'to resume from explicitly (--resume work_dir/epoch_N.pth), or delete '
            f'{pointer} to start from scratch.'
        )


# The settings a resumed run takes from the checkpoint (the optimizer state) or mixes with the
# checkpoint's (the losses): changing them on --resume is refused unless allowed.
RESUMED_SECTIONS = ('optim_wrapper', 'param_scheduler')
LOSS_WORDS = ('loss', 'alpha_mgd', 'lambda_mgd', 'temperature', 'tau')


def _settings(cfg: Mapping) -> dict[str, object]:
    """The optimizer, schedule and loss settings of a config, by dotted key."""
    found = {}
    for section in RESUMED_SECTIONS:
        if section in cfg:
            found |= {path: v for path, v in config_items(cfg[section], section) if _is_value(v)}
    for path, value in config_items(cfg.get('model', {}), 'model'):
        name = path.split('.')[-1]
        if _is_value(value) and ('.loss' in path or any(word in name for word in LOSS_WORDS)):
            found[path] = value
    return found


def _is_value(value: object) -> bool:
    return not isinstance(value, Mapping | list | tuple)


def check_resume_settings(cfg: Config, allow_changes: bool = False) -> None:
    """With ``resume``, compares the optimizer, schedule and loss settings with those saved in
    the checkpoint (mmengine stores the config in its ``meta``). A changed learning rate would
    be overridden by the optimizer state; a changed loss weight would mix two runs in one.

    Raises:
        ConfigError: naming each changed key (old -> new), unless ``allow_changes``.
    """
    if not cfg.get('resume') or allow_changes:
        return
    from mgd.utils.checkpoint import load_from_local

    path = cfg.get('load_from') or find_latest_checkpoint(cfg.work_dir)
    if not path or is_url(path) or not osp.isfile(path):
        return
    meta = load_from_local(path, 'cpu', '--resume checkpoint').get('meta', {})
    try:
        old = Config.fromstring(meta['cfg'], '.py').to_dict()
    except Exception:  # noqa: BLE001 - no readable config saved: nothing to compare
        return
    before, now = _settings(old), _settings(cfg.to_dict())
    changed = [
        f'{key}: {before.get(key, "(absent)")!r} -> {now.get(key, "(absent)")!r}'
        for key in sorted(set(before) | set(now))
        if before.get(key) != now.get(key)
    ]
    if changed:
        raise ConfigError(
            f'--resume from {path!r} with other optimizer, schedule or loss settings than it was '
            'trained with:\n  ' + '\n  '.join(changed) + '\nThe optimizer state in the '
            'checkpoint overrides a new learning rate, and changed losses would mix two runs in '
            'one. Resume with the old settings; or start a new run from these weights with '
            f'--cfg-options load_from={path} (no --resume); or pass --allow-changes to resume '
            'anyway.'
        )


def _pretrained_urls(node: object, path: str) -> Iterator[tuple[str, str]]:
    """``(key, url)`` of each ``init_cfg=dict(type='Pretrained', checkpoint=URL)`` in a model
    config."""
    if isinstance(node, Mapping):
        init = node.get('init_cfg')
        for i, item in enumerate(init if isinstance(init, list) else [init]):
            if isinstance(item, Mapping) and item.get('type') == 'Pretrained':
                where = f'{path}.init_cfg' + (f'.{i}' if isinstance(init, list) else '')
                yield f'{where}.checkpoint', str(item.get('checkpoint'))
        for key, value in node.items():
            if key != 'init_cfg':
                yield from _pretrained_urls(value, f'{path}.{key}')
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            yield from _pretrained_urls(value, f'{path}.{i}')


def _is_cached(url: str) -> bool:
    """Whether torch's or mmengine's download cache holds ``url``'s file."""
    import torch

    name = osp.basename(urllib.parse.urlparse(url).path)
    home = os.environ.get('TORCH_HOME') or osp.join(
        os.environ.get('XDG_CACHE_HOME', osp.expanduser('~/.cache')), 'torch'
    )
    folders = (osp.join(torch.hub.get_dir(), 'checkpoints'), osp.join(home, 'checkpoints'))
    return any(osp.isfile(osp.join(folder, name)) for folder in folders)


def check_downloads(cfg: Config, timeout: float = 10.0) -> None:
    """Checks that every checkpoint URL the run would download (``load_from``, the model's
    ``Pretrained`` ``init_cfg``) is cached or reachable, before anything is built: offline,
    mmengine fails with a bare ``URLError`` after the model is built, naming no key.

    Raises:
        ValueError: naming the key, the URL and how to pass a local file.
    """
    urls = [('load_from', str(cfg.get('load_from') or ''))]
    urls += list(_pretrained_urls(cfg.get('model', {}), 'model'))
    for key, url in urls:
        if not url.startswith(('http://', 'https://')) or _is_cached(url):
            continue
        try:
            request = urllib.request.Request(url, method='HEAD')
            urllib.request.urlopen(request, timeout=timeout).close()
        except (OSError, ValueError) as err:  # URLError, HTTPError, timeouts
            reason = getattr(err, 'reason', None) or err
            raise ConfigError(
                f'{key} {url!r} cannot be downloaded ({reason}). Without network access, '
                'download it on another machine and pass the file: --cfg-options '
                f'{key}=/path/to/{osp.basename(urllib.parse.urlparse(url).path)}'
            ) from None
