"""Tool-time checks of a run's input, from the config alone, before anything is built.

``tools/train.py`` and ``tools/test.py`` call them right after the config is loaded:

* ``check_data``: missing or empty annotation files and image folders, images that are
  missing, empty or not images, class names that are not the COCO file's categories or not in
  their order (for JSON files up to 50 MB), classes that do not match the model's
  ``num_classes``;
* ``check_resume``: a ``last_checkpoint`` or ``--resume PATH`` naming a file that is gone;
* ``check_resume_settings``: ``--resume`` with changed optimizer, schedule or loss settings;
* ``check_teacher_ckpt``: a distillation config without a teacher checkpoint;
* ``check_work_dir``: a ``--work-dir`` that cannot be created or written;
* ``lock_work_dir``: a ``--work-dir`` that another training run is using;
* ``check_downloads``: a ``load_from`` or ``Pretrained`` checkpoint URL that is neither cached
  nor reachable (a machine without internet).

Every check raises ``ValueError`` (``FileNotFoundError`` for files) with what to change.
"""

from __future__ import annotations

import json
import os
import os.path as osp
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import find_latest_checkpoint
from PIL import Image

from mgd.utils.cfg_options import config_items
from mgd.utils.checkpoint import is_url
from mgd.utils.distill_config import evaluated_model, teacher_ckpt_keys
from mgd.utils.errors import AccessError, ConfigError, MissingFileError

__all__ = [
    'check_data',
    'check_downloads',
    'check_resume',
    'check_resume_settings',
    'check_teacher_ckpt',
    'check_work_dir',
    'lock_work_dir',
]

# JSON annotation files up to this size are parsed to see whether they hold any image.
MAX_PARSED_ANNOTATION_BYTES = 50 * 2**20


def _datasets(dataset: object, path: str) -> Iterator[tuple[str, Mapping]]:
    """The dataset configs inside ``dataset``, through wrappers (Repeat, Concat, ...)."""
    if not isinstance(dataset, Mapping):
        return
    if 'dataset' in dataset:
        yield from _datasets(dataset['dataset'], f'{path}.dataset')
    if 'datasets' in dataset:
        for i, inner in enumerate(dataset['datasets']):
            yield from _datasets(inner, f'{path}.datasets.{i}')
    if 'dataset' not in dataset and 'datasets' not in dataset:
        yield path, dataset


def _local_path(data_root: str | None, name: str) -> str:
    return name if osp.isabs(name) or not data_root else osp.join(data_root, name)


def _read_annotations(key: str, ann_file: str, training: bool) -> tuple[list[str], dict | None]:
    """What is wrong with one annotation file (messages naming the config key), and its
    content when it is a COCO JSON file small enough to parse."""
    if not osp.isfile(ann_file):
        return [
            f'{key}: annotation file {ann_file!r} does not exist. Fix the path (data_root '
            'and ann_file), or create the data (see the README: data preparation).'
        ], None
    size = osp.getsize(ann_file)
    if size == 0:
        return [
            f'{key}: annotation file {ann_file!r} is empty (0 bytes): it was not written '
            'completely; create it again.'
        ], None
    if not ann_file.endswith('.json') or size > MAX_PARSED_ANNOTATION_BYTES:
        return [], None
    try:
        with open(ann_file) as f:
            content = json.load(f)
    except (ValueError, UnicodeDecodeError) as err:
        return [
            f'{key}: annotation file {ann_file!r} is not valid JSON ({err}); create it again.'
        ], None
    if not isinstance(content, dict) or 'images' not in content:
        return [], None
    if not content['images']:
        return [f'{key}: annotation file {ann_file!r} lists no images.'], None
    if training and not content.get('annotations'):
        return [
            f'{key}: annotation file {ann_file!r} has no annotations: nothing to train on.'
        ], None
    return [], content


def _annotation_problems(key: str, ann_file: str, training: bool) -> list[str]:
    return _read_annotations(key, ann_file, training)[0]


def _image_problem(path: str) -> str | None:
    """Why mmcv could not decode ``path`` (missing, empty, not an image), or None."""
    if not osp.isfile(path):
        return 'does not exist'
    if osp.getsize(path) == 0:
        return 'is empty (0 bytes)'
    try:
        with Image.open(path):  # reads the header only: cheap enough for every image
            return None
    except (OSError, ValueError) as err:
        return f'is not a readable image ({type(err).__name__})'


def _image_problems(key: str, ann_file: str, content: dict, folder: str) -> list[str]:
    bad = []
    for image in content['images']:
        path = osp.join(folder, str(image.get('file_name', '')))
        problem = _image_problem(path)
        if problem:
            bad.append(f'{path!r} {problem}')
    if not bad:
        return []
    return [
        f'{key}: {len(bad)} of the {len(content["images"])} images that {ann_file!r} lists '
        f'cannot be read: {"; ".join(bad[:5])}{"; ..." if len(bad) > 5 else ""}. Replace '
        'them, or remove them from the annotation file (re-run the converter without them).'
    ]


def _category_problems(key: str, ann_file: str, content: dict, classes: tuple) -> list[str]:
    """The config's class names against the COCO file's categories. mmdet keeps the
    categories named in ``classes`` in the order of the file, not of the config, and drops the
    boxes of the others without a word: a name the file lacks or a different order would
    train and report under the wrong names."""
    categories = [c for c in content.get('categories') or [] if isinstance(c, Mapping)]
    names = [c.get('name') for c in categories]
    missing = [c for c in classes if c not in names]
    if missing:
        return [
            f'{key}: the classes {missing} are not categories of {ann_file!r}, whose '
            f'categories are {names}: correct metainfo=dict(classes=...) (names are exact, case '
            'included), or convert the data again with this class list.'
        ]
    kept = [n for n in names if n in classes]
    if kept != list(classes):
        return [
            f'{key}: the classes are {list(classes)}, but {ann_file!r} lists them in the order '
            f"{kept}; mmdet numbers the labels in the file's order, so the names would go to the "
            f'wrong classes: set metainfo=dict(classes={tuple(kept)}).'
        ]
    ids = {c.get('id'): c.get('name') for c in categories if c.get('name') not in classes}
    dropped: dict[str, int] = {}
    for ann in content.get('annotations') or []:
        if isinstance(ann, Mapping) and ann.get('category_id') in ids:
            name = ids[ann['category_id']]
            dropped[name] = dropped.get(name, 0) + 1
    if dropped:
        print_log(
            f'{key}: {ann_file!r} has boxes of categories that are not among the classes, and '
            f'they will be ignored: {dropped}. Add them to metainfo=dict(classes=...) to use '
            'them.',
            logger='current',
            level=30,  # WARNING
        )
    return []


def _dataset_problems(
    key: str, dataset: Mapping, training: bool, scope: str | None = None
) -> tuple[list[str], list[str]]:
    """What is missing or unreadable, and how the class names disagree with the file."""
    data_root = dataset.get('data_root')
    if isinstance(data_root, str) and is_url(data_root):
        return [], []
    problems, content = [], None
    ann_file = dataset.get('ann_file')
    if isinstance(ann_file, str) and ann_file and not is_url(ann_file):
        ann_file = _local_path(data_root, ann_file)
        problems, content = _read_annotations(f'{key}.ann_file', ann_file, training)
    prefix = dataset.get('data_prefix')
    if isinstance(prefix, Mapping):
        prefix = prefix.get('img', prefix.get('img_path'))
    folder = prefix
    if isinstance(folder, str) and folder and not is_url(folder):
        folder = _local_path(data_root, folder)
        if not osp.isdir(folder):
            problems.append(
                f'{key}.data_prefix: image folder {folder!r} does not exist. Fix '
                'data_root/data_prefix, or create the data.'
            )
        elif content is not None:
            problems += _image_problems(key, ann_file, content, folder)
    classes = _dataset_classes(dataset, scope)
    if problems or content is None or classes is None or 'categories' not in content:
        return problems, []
    return problems, _category_problems(key, ann_file, content, classes)


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


def _num_classes_keys(model: Mapping, path: str = '') -> Iterator[tuple[str, int]]:
    """``(key path, value)`` of each ``num_classes`` in the head configs of ``model``."""
    for key, value in model.items():
        sub = f'{path}.{key}' if path else str(key)
        if key == 'num_classes' and isinstance(value, int):
            top = sub.split('.')[0]
            if top in ('bbox_head', 'mask_head', 'roi_head', 'head') and not any(
                part in ('rpn_head', 'semantic_head') for part in sub.split('.')
            ):
                yield sub, value
        elif isinstance(value, Mapping):
            yield from _num_classes_keys(value, sub)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    yield from _num_classes_keys(item, f'{sub}.{i}')


def _dataset_classes(dataset: Mapping, scope: str | None) -> tuple | None:
    """The class names the dataset will have: its ``metainfo`` or its type's default."""
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes is not None:
        return tuple(classes)
    dataset_type = dataset.get('type')
    if isinstance(dataset_type, str):
        from mmengine.registry import DATASETS

        name = dataset_type if '.' in dataset_type or not scope else f'{scope}.{dataset_type}'
        try:
            dataset_type = DATASETS.get(name)
        except Exception:  # an unknown scope or type: the Runner will say so
            return None
    classes = getattr(dataset_type, 'METAINFO', {}).get('classes')
    return tuple(classes) if classes is not None else None


def _class_problems(cfg: Config) -> list[str]:
    loader = cfg.get('train_dataloader')
    if not isinstance(cfg.get('model'), Mapping) or not isinstance(loader, Mapping):
        return []
    prefix, model = evaluated_model(cfg)  # for a distillation config, the student
    found = list(_datasets(loader.get('dataset'), 'train_dataloader.dataset'))
    if not found:
        return []
    key, dataset = found[0]
    classes = _dataset_classes(dataset, cfg.get('default_scope'))
    if classes is None:
        return []
    return [
        f'{prefix}.{path}={value}, but the training set ({key}) has {len(classes)} classes '
        f"{list(classes)}: set {prefix}.{path}={len(classes)}, or the dataset's "
        'metainfo=dict(classes=...) to the classes the model predicts.'
        for path, value in _num_classes_keys(model)
        if value != len(classes)
    ]


def check_data(cfg: Config, phase: str = 'train') -> None:
    """Checks the data a run will read, from the config alone (no dataset is built).

    Args:
        cfg: the loaded config.
        phase: ``'train'`` (training and validation data, classes vs ``num_classes``) or
            ``'test'`` (test data).

    Raises:
        FileNotFoundError: listing every missing or empty file and folder.
        ValueError: the classes of the training set do not match the model.
    """
    if phase not in ('train', 'test'):
        raise ValueError(f"phase must be 'train' or 'test', got {phase!r}")
    names = ('train', 'val') if phase == 'train' else ('test',)
    problems, class_problems = [], []
    for name in names:
        loader = cfg.get(f'{name}_dataloader')
        if isinstance(loader, Mapping):
            for key, dataset in _datasets(loader.get('dataset'), f'{name}_dataloader.dataset'):
                missing, mismatched = _dataset_problems(
                    key, dataset, training=name == 'train', scope=cfg.get('default_scope')
                )
                problems += missing
                class_problems += mismatched
        evaluators = cfg.get(f'{name}_evaluator')
        evaluators = [evaluators] if isinstance(evaluators, Mapping) else evaluators or []
        for i, evaluator in enumerate(evaluators):
            ann_file = evaluator.get('ann_file') if isinstance(evaluator, Mapping) else None
            if isinstance(ann_file, str) and ann_file and not is_url(ann_file):
                key = f'{name}_evaluator' + (f'.{i}' if len(evaluators) > 1 else '') + '.ann_file'
                problems += _annotation_problems(key, ann_file, training=False)
    if problems:
        raise MissingFileError(
            'the config names data that is not there:\n  ' + '\n  '.join(dict.fromkeys(problems))
        )
    if phase == 'train':
        class_problems += _class_problems(cfg)
    if class_problems:
        raise ConfigError(
            "the config's classes do not match the data or the model:\n  "
            + '\n  '.join(class_problems)
        )


def check_teacher_ckpt(cfg: Config) -> None:
    """Refuses to train a distillation config whose teacher has no checkpoint.

    Without one the teacher keeps its random initialisation, and the student would be
    distilled towards noise for the whole run (the official code's most reported failure).
    Resuming is allowed: the checkpoint being resumed holds the teacher.
    """
    if cfg.get('resume'):
        return
    for key, path in teacher_ckpt_keys(cfg.get('model', {})).items():
        if not path:
            raise ConfigError(
                f'{key} is not set, so the teacher would stay randomly initialised. '
                'Train the teacher first or download its checkpoint, then pass '
                f'--cfg-options {key}=/path/to/teacher.pth'
            )


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
        if _is_value(value) and any(word in path.split('.')[-1] for word in LOSS_WORDS):
            found[path] = value
        elif _is_value(value) and '.loss' in path:
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
