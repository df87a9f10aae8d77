"""Tool-time checks of a run's input, from the config alone, before anything is built.

``tools/train.py`` and ``tools/test.py`` call them right after the config is loaded:

* ``check_data``: missing or empty annotation files and image folders, images that are
  missing, empty or not images, class names that are not the COCO file's categories or not in
  their order (for JSON files up to 50 MB), classes that do not match the model's
  ``num_classes``;
* ``check_teacher_ckpt``: a distillation config without a teacher checkpoint.

The checks of the run itself (work dir, resume, downloads) are ``mgd.utils.run_checks``. Every
check raises a refusal (``mgd.utils.errors``: a ``ValueError``, ``FileNotFoundError`` for
files) with what to change.
"""

from __future__ import annotations

import json
import os.path as osp
from collections.abc import Iterator, Mapping

from mmengine.config import Config
from mmengine.logging import print_log
from PIL import Image

from mgd.utils.checkpoint import is_url
from mgd.utils.distill_config import evaluated_model, teacher_ckpt_keys
from mgd.utils.errors import ConfigError, MissingFileError

__all__ = ['check_data', 'check_teacher_ckpt']

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
