"""Hooks that make an interrupted run resume as if it had never stopped.

mmengine 0.10.7 restores model, optimizer, schedulers, epoch/iteration and the message hub on
``--resume``, but not the random number generators (the checkpoint keeps only the ``seed``),
and its ``CheckpointHook`` is not crash safe:

* it deletes the oldest checkpoint (``max_keep_ckpts``) *before* writing the new one, and writes
  ``epoch_N.pth`` and then ``last_checkpoint`` in place. A run killed while saving can leave a
  truncated ``epoch_N.pth``, a truncated ``last_checkpoint``, or (with ``max_keep_ckpts=1``)
  no complete checkpoint at all;
* MGD draws its masks with ``torch.rand`` and the detection pipelines flip images with numpy,
  so without the generators' state a resumed run trains on other masks and flips than an
  uninterrupted one.

``AtomicCheckpointHook`` writes every file to a temporary name and renames it (atomic on a
local file system), and deletes old checkpoints only once the new one and ``last_checkpoint``
are in place. ``RNGStateHook`` stores the python/numpy/torch(/CUDA) generator states in the
checkpoint and restores them on resume; it also keeps validation from consuming the training
run's random numbers, so that validating (or not) between checkpoints changes nothing.

Both are registered in the ``mgd`` scope; a config uses them with::

    default_hooks = dict(checkpoint=dict(type='mgd.AtomicCheckpointHook'))  # same arguments
    custom_hooks = [dict(type='mgd.RNGStateHook')]

as every config in ``configs/`` does.
"""

from __future__ import annotations

import errno
import os
import os.path as osp
import random
import shutil

import numpy as np
import torch
from mmengine.dist import get_dist_info, is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log

from mgd.registry import HOOKS
from mgd.utils.errors import AccessError
from mgd.utils.fileio import write_atomically

__all__ = [
    'AtomicCheckpointHook',
    'FiniteLossHook',
    'RNGStateHook',
    'TeacherCacheHook',
    'get_rng_state',
    'set_rng_state',
]

RNG_KEY = 'rng_state'


def get_rng_state() -> dict:
    """The state of python's, numpy's and torch's global generators (and CUDA's if in use).

    Only plain python types and tensors, so that ``torch.load(weights_only=True)`` reads it.
    """
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = dict(
        python=random.getstate(),
        numpy=(kind, keys.tolist(), pos, has_gauss, gauss),
        torch=torch.get_rng_state(),
    )
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restores what :func:`get_rng_state` returned."""
    random.setstate(_as_tuples(state['python']))
    kind, keys, pos, has_gauss, gauss = state['numpy']
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        if len(state['cuda']) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state['cuda'])
        else:
            print_log(
                f'checkpoint holds the CUDA generator state of {len(state["cuda"])} '
                f'devices, this machine has {torch.cuda.device_count()}: not restored',
                logger='current',
                level=30,
            )


def _as_tuples(value):
    """``random.setstate`` wants tuples; a checkpoint round trip may give lists."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list | tuple) else value


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Saves the generators' state in every checkpoint and restores it on resume.

    With it, a run that is killed and resumed with ``--resume`` gives the same weights as an
    uninterrupted run, given ``randomness=dict(seed=..., deterministic=True)`` and
    ``num_workers=0`` (worker processes own generators that no checkpoint can hold).

    With several processes, only rank 0 writes the checkpoint, so every rank gets rank 0's
    state back (the ranks' streams differ anyway when their batches differ in size). Under
    ``randomness.diff_rank_seed=True`` the other ranks keep their freshly seeded state instead.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._outside_val: dict | None = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # During validation (save_best re-saves the last checkpoint there), store the state
        # that training continues from, which after_val restores.
        outside_val = self._outside_val
        checkpoint[RNG_KEY] = outside_val if outside_val is not None else get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get(RNG_KEY)
        if state is None:
            runner.logger.warning(
                'the checkpoint holds no random generator state (it was saved without '
                'RNGStateHook): the resumed run draws other masks and augmentations than an '
                'uninterrupted run would.'
            )
            return
        rank, _ = get_dist_info()
        if rank > 0 and runner._randomness_cfg.get('diff_rank_seed', False):
            return
        set_rng_state(state)

    # Validation inside training must not shift the training run's random streams: a run
    # resumed from a checkpoint does not repeat the validation that followed it.
    def before_val(self, runner) -> None:
        self._outside_val = get_rng_state()

    def after_val(self, runner) -> None:
        if self._outside_val is not None:
            set_rng_state(self._outside_val)
            self._outside_val = None


def human(size: float) -> str:
    """``size`` bytes as ``12 B``, ``3.4 KiB``, ``5.6 MiB`` or ``7.80 GiB``."""
    for unit, scale in (('GiB', 2**30), ('MiB', 2**20), ('KiB', 2**10)):
        if size >= scale:
            return f'{size / scale:.2f} {unit}' if unit == 'GiB' else f'{size / scale:.1f} {unit}'
    return f'{size:.0f} B'


def checkpoint_bytes(model) -> int:
    """About the size of one checkpoint of ``model``: its state dict, and Adam's two moments
    of every trainable parameter (an upper bound for SGD's momentum)."""
    module = getattr(model, 'module', model)
    state = sum(t.numel() * t.element_size() for t in module.state_dict().values())
    trainable = sum(p.numel() * p.element_size() for p in module.parameters() if p.requires_grad)
    return state + 2 * trainable


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` whose files are never half written or deleted too early.

    Same arguments as ``CheckpointHook``. For a local ``out_dir`` each checkpoint is written to
    ``<name>.tmp`` and renamed, ``last_checkpoint`` likewise, and only then are checkpoints
    beyond ``max_keep_ckpts`` deleted; a run killed at any moment leaves ``last_checkpoint``
    naming a complete file. Other storage backends get the stock behaviour.
    """

    def before_train(self, runner) -> None:
        """Refuses to start when the disk cannot hold the checkpoints the run will keep."""
        super().before_train(runner)
        if not isinstance(self.file_backend, LocalBackend) or not is_main_process():
            return
        self._size = checkpoint_bytes(runner.model)
        left = runner.max_epochs - runner.epoch if self.by_epoch else runner.max_iters - runner.iter
        saves = max(left, 0)
        saves = -(-saves // self.interval) if self.interval > 0 else 0
        kept = min(saves, self.max_keep_ckpts + 1) if self.max_keep_ckpts > 0 else saves
        free = shutil.disk_usage(self.out_dir).free
        if kept * self._size > free:
            raise AccessError(
                f'{self.out_dir} has {human(free)} free, and the run will keep {kept} '
                f'checkpoints of about {human(self._size)} each: free some space, keep '
                'fewer (--cfg-options default_hooks.checkpoint.max_keep_ckpts=1), or pass '
                'another --work-dir.'
            )

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        try:
            self._save_atomically(runner, step, meta)
        except Exception as err:
            if 'No space left' in str(err) or getattr(err, 'errno', None) == errno.ENOSPC:
                size = human(getattr(self, '_size', 0))
                free = human(shutil.disk_usage(self.out_dir).free)
                raise AccessError(
                    f'no space left in {self.out_dir} for the checkpoint of step {step} (about '
                    f'{size}; {free} free). The last complete checkpoint is kept: free some '
                    'space, then train again with --resume.'
                ) from err
            raise

    def _save_atomically(self, runner, step, meta) -> None:
        if not isinstance(self.file_backend, LocalBackend):
            return super()._save_checkpoint_with_step(runner, step, meta)
        obsolete = []
        # The same bookkeeping as mmengine's (message_hub's keep_ckpt_ids is saved in the
        # checkpoint), except that the oldest file is deleted after the new one is complete.
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                obsolete.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        tmp_name = f'{filename}.tmp'
        try:
            runner.save_checkpoint(
                self.out_dir,
                tmp_name,
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args,
            )
        except BaseException:
            if is_main_process() and osp.exists(osp.join(self.out_dir, tmp_name)):
                os.remove(osp.join(self.out_dir, tmp_name))
            raise
        if not is_main_process():
            return
        tmp_path = osp.join(self.out_dir, tmp_name)
        with open(tmp_path, 'rb+') as f:  # on disk before the rename makes it visible
            os.fsync(f.fileno())
        os.replace(tmp_path, self.last_ckpt)
        write_atomically({osp.join(runner.work_dir, 'last_checkpoint'): self.last_ckpt})
        for old in obsolete:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path):
                os.remove(path)


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stops training at the first iteration whose losses are not finite, naming them.

    Without it a NaN loss weight or a diverging run trains on, exits 0 and saves checkpoints
    full of NaN. It runs right after the iteration and before the checkpoint hook (priority
    ``VERY_HIGH``), so the weights that the non-finite loss produced are never saved.
    """

    priority = 'VERY_HIGH'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        bad = {
            key: float(torch.as_tensor(value).float().sum())
            for key, value in (outputs or {}).items()
            if not bool(torch.isfinite(torch.as_tensor(value)).all())
        }
        if not bad:
            return
        losses = ', '.join(f'{key}={value}' for key, value in bad.items())
        raise FloatingPointError(
            f'non-finite loss at iteration {runner.iter + 1} (epoch {runner.epoch + 1}): '
            f'{losses}. Training stopped; this state was not saved (the last checkpoint is '
            f'the one {osp.join(runner.work_dir, "last_checkpoint")} names, if any). Check the '
            'weights of these losses (e.g. alpha_mgd), lower the learning rate or clip the '
            'gradients (optim_wrapper.clip_grad), then train again or --resume.'
        )


@HOOKS.register_module()
class TeacherCacheHook(Hook):
    """Gives a distiller with ``model.teacher_cache`` set the run's config before training
    (the cache is used only when the training pipeline allows it) and logs after each epoch
    how many images the cache served. Does nothing for other models."""

    @staticmethod
    def _model(runner):
        from mmengine.model import is_model_wrapper

        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_train(self, runner) -> None:
        attach = getattr(self._model(runner), 'attach_teacher_cache', None)
        if attach is not None:
            attach(runner.cfg, len(runner.train_dataloader.dataset))

    def after_train_epoch(self, runner) -> None:
        report = getattr(self._model(runner), 'teacher_cache_report', None)
        line = report() if report is not None else None
        if line:
            print_log(f'epoch {runner.epoch + 1}: {line}', logger='current')
