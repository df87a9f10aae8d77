"""The frozen teacher's recorded features, computed once per image and read back after.

The teacher is frozen and in eval mode, so what its recorders record for one image depends
only on that image as the pipeline delivers it. When every random transform of the training
pipeline is a flip, that is the image file, the flip, and the padded batch shape (padding
reaches the border features): the cache key. Entries are one file each, written to a temporary
name and renamed (a run killed while writing leaves no half entry; concurrent runs write the
same bytes), in a folder named by a fingerprint of what else decides the features: the
teacher's config and checkpoint, the training pipeline, the data preprocessor and the
recorders. Features are stored in float16.
"""

from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import tempfile
from collections.abc import Callable, Sequence

import torch
from mmengine.logging import print_log

from mgd.utils.errors import ConfigError

VERSION = 1
# Transforms whose output is a function of their input: they need no key. RandomFlip is the
# one random transform the key covers (its ``flip`` and ``flip_direction`` are in the key).
DETERMINISTIC = {
    'LoadImageFromFile', 'LoadImageFromNDArray', 'LoadAnnotations', 'Resize',
    'FixShapeResize', 'Pad', 'FilterAnnotations', 'PackDetInputs', 'ContrastEnhance',
    'YOLOv5KeepRatioResize', 'LetterResize', 'RandomFlip',
}  # fmt: skip
WRAPPERS = {'RepeatDataset', 'ClassBalancedDataset'}


def uncovered_transform(dataset_cfg: dict, preprocessor_cfg: dict | None) -> str | None:
    """Why the training data cannot be cached (a transform the key does not cover), or None."""
    for pipeline in pipelines(dataset_cfg):
        if not pipeline:
            return 'the training dataset has no pipeline the cache can check'
        for transform in pipeline:
            name = str(transform.get('type', '')).split('.')[-1]
            if name not in DETERMINISTIC:
                return (
                    f'the training pipeline has {name}, which the cache key (image, flip) does '
                    'not cover: it may change the image at random'
                )
    if (preprocessor_cfg or {}).get('batch_augments'):
        return 'the data preprocessor has batch_augments, which change the images at random'
    return None


def pipelines(dataset_cfg: dict) -> list[list]:
    """The pipelines of a training dataset config, through its wrappers."""
    kind = str(dataset_cfg.get('type', '')).split('.')[-1]
    if kind in WRAPPERS:
        return pipelines(dataset_cfg['dataset'])
    if kind == 'ConcatDataset':
        return [p for d in dataset_cfg['datasets'] for p in pipelines(d)]
    return [dataset_cfg.get('pipeline', [])]


def flip_states(dataset_cfg: dict) -> int:
    """How many versions of an image the pipeline can deliver: unflipped, and one per flip
    direction of its ``RandomFlip`` (``'horizontal'`` by default)."""
    directions = {'none'}
    for pipeline in pipelines(dataset_cfg):
        for transform in pipeline:
            if str(transform.get('type', '')).split('.')[-1] == 'RandomFlip':
                direction = transform.get('direction', 'horizontal')
                directions |= {direction} if isinstance(direction, str) else set(direction)
    return len(directions)


def fingerprint(parts: dict) -> str:
    """A short hash of ``parts`` (config fragments, file digests), stable across runs."""
    text = json.dumps(parts, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sample_key(sample, shape: Sequence[int]) -> str:
    """What the teacher's features of one image depend on besides the fingerprint."""
    meta = sample.metainfo
    path = osp.realpath(meta['img_path'])
    stat = os.stat(path)
    return json.dumps([
        path, stat.st_size, stat.st_mtime_ns, bool(meta.get('flip', False)),
        meta.get('flip_direction'), list(meta.get('img_shape', ())), list(shape),
    ])  # fmt: skip


def per_sample(record, index: int):
    """Sample ``index`` of one record (a tensor, or a list/tuple of them), in float16."""
    if isinstance(record, torch.Tensor):
        return record[index].detach().to('cpu', torch.float16).clone()
    return type(record)(per_sample(r, index) for r in record)


def stacked(records: list, like, device: torch.device, dtype: torch.dtype | None = None):
    """The per-sample ``records`` stacked into one batch record, structured as ``like`` and
    in its dtype (``dtype`` when given)."""
    if isinstance(like, torch.Tensor):
        return torch.stack(records).to(device, dtype or like.dtype)
    return type(like)(
        stacked([r[i] for r in records], like[i], device, dtype) for i in range(len(like))
    )


def batch_sizes(record) -> set[int]:
    if isinstance(record, torch.Tensor):
        return {record.shape[0] if record.dim() else -1}
    return set().union(*(batch_sizes(r) for r in record))


class TeacherFeatureCache:
    """The recorded teacher features of the training images, one file per (image, flip,
    padded shape) in ``folder/<fingerprint>/``.

    Args:
        folder: where the cache lives (shared by the runs that use the same teacher).
        parts: what decides the features besides the key (see :func:`fingerprint`).
        images: how many images the training set has (for the size estimate).
        limit_gib: the largest size the cache may reach; a larger estimate turns it off.
        states: the versions of an image the pipeline delivers (:func:`flip_states`).
    """

    def __init__(
        self, folder: str, parts: dict, images: int, limit_gib: float, states: int = 2
    ) -> None:
        self.root = osp.join(folder, fingerprint(parts))
        os.makedirs(self.root, exist_ok=True)
        info = osp.join(self.root, 'fingerprint.json')
        if not osp.isfile(info):
            with tempfile.NamedTemporaryFile('w', dir=self.root, delete=False) as f:
                json.dump(parts, f, indent=1, sort_keys=True, default=repr)
            os.replace(f.name, info)
        self.images, self.limit_gib = images, limit_gib
        self.states = states
        self.enabled = True
        self.sized = False
        self.hits = self.misses = 0

    def path(self, key: str) -> str:
        name = hashlib.sha1(key.encode()).hexdigest()
        return osp.join(self.root, name[:2], name + '.pt')

    def read(self, key: str):
        """The stored records of one sample, or None (absent, or unreadable: rewritten)."""
        path = self.path(key)
        if not osp.isfile(path):
            return None
        try:
            entry = torch.load(path, map_location='cpu', weights_only=True)
        except Exception:  # a damaged file (disk full, a copy cut short): compute it again
            return None
        return entry['records'] if entry.get('key') == key else None

    def write(self, key: str, records: list) -> None:
        path = self.path(key)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=osp.dirname(path), suffix='.tmp', delete=False) as f:
            torch.save(dict(key=key, records=records), f)
        os.replace(f.name, path)

    def check_size(self, records: list) -> None:
        """Before the first entry: the estimated size, printed; above the limit the cache is
        turned off (the teacher runs live)."""
        self.sized = True

        def nbytes(record) -> int:
            if isinstance(record, torch.Tensor):
                return record.numel() * record.element_size()
            return sum(nbytes(r) for r in record)

        entry = sum(nbytes(r) for recorder in records for r in recorder)
        total = entry * self.images * self.states
        message = (
            f'teacher cache {self.root}: {entry / 2**20:.2f} MiB per image and flip, about '
            f'{total / 2**30:.2f} GiB for {self.images} images x {self.states} flip states '
            f'(model.teacher_cache_limit_gib {self.limit_gib:g})'
        )
        if total > self.limit_gib * 2**30:
            self.enabled = False
            print_log(
                message + ': above the limit, so the teacher runs live. Raise '
                'model.teacher_cache_limit_gib or free the disk to use it.',
                logger='current',
                level=30,
            )
        else:
            print_log(message, logger='current')

    def fill(
        self,
        recorders: dict,
        run_teacher: Callable[[torch.Tensor, list | None], None],
        inputs: torch.Tensor,
        samples: list,
    ) -> None:
        """Fills the teacher ``recorders`` (name -> mmrazor recorder, inside their context)
        for the batch: read where stored, the teacher run on the other images only."""
        keys = [sample_key(s, inputs.shape[-2:]) for s in samples]
        found = [self.read(k) for k in keys]
        missing = [i for i, entry in enumerate(found) if entry is None]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        like = None
        if missing:
            subset = missing if len(missing) < len(keys) else slice(None)
            run_teacher(inputs[subset], [samples[i] for i in missing])
            like = [list(r.data_buffer) for r in recorders.values()]
            for name, recorder in zip(recorders, like):
                sizes = set().union(*(batch_sizes(r) for r in recorder))
                if sizes != {len(missing)}:
                    raise ConfigError(
                        f'model.teacher_cache: the teacher recorder {name!r} recorded tensors '
                        f'of batch sizes {sorted(sizes)} for {len(missing)} images, not one '
                        'per image: its records cannot be cached; unset model.teacher_cache'
                    )
            for j, i in enumerate(missing):
                found[i] = [[per_sample(r, j) for r in recorder] for recorder in like]
                if not self.sized:
                    self.check_size(found[i])
                if self.enabled:
                    self.write(keys[i], found[i])
            if len(missing) == len(keys):
                return  # the recorders hold the live records of the whole batch
        # the live records' dtype; stored ones alone are read back in float32
        dtype = None if like else torch.float32
        like = like or found[0]
        for r, recorder in enumerate(recorders.values()):
            recorder._data_buffer = [
                stacked([entry[r][k] for entry in found], like[r][k], inputs.device, dtype)
                for k in range(len(like[r]))
            ]
