"""mgd.hooks: a crash while saving never leaves resume a broken checkpoint, and the random
generators' state travels with the checkpoint. A toy model keeps the Runner fast."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import LocalBackend
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset
from utils import REPO

from mgd.engine.hooks import RNGStateHook, get_rng_state, set_rng_state

pytestmark = pytest.mark.usefixtures('one_thread')  # see tests/conftest.py


class ToyModel(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='loss'):
        inputs = torch.stack(inputs)
        noise = torch.rand_like(inputs)  # like MGD's masks: the global generator
        return {'loss': ((self.linear(inputs * noise) - torch.stack(labels)) ** 2).mean()}


class DivergingModel(ToyModel):
    """A loss that turns NaN at the third iteration (the first of epoch 2)."""

    calls = 0

    def forward(self, inputs, labels=None, mode='loss'):
        self.calls += 1
        loss = super().forward(inputs, labels, mode)['loss']
        bad = loss * float('nan') if self.calls >= 3 else loss * 0
        return {'loss_task': loss, 'loss_weighted': bad}


class ToyDataset(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=torch.full((2,), float(index)), labels=torch.tensor([1.0]))


def make_runner(
    work_dir, max_epochs: int, hook: str, resume: bool = False, model: nn.Module | None = None
) -> Runner:
    torch.manual_seed(0)  # the model is built before the Runner seeds
    return Runner(
        model=model or ToyModel(),
        work_dir=str(work_dir),
        experiment_name=f'toy_{max_epochs}_{resume}',
        train_dataloader=dict(
            dataset=ToyDataset(),
            batch_size=2,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True),
        ),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type=hook, interval=1, max_keep_ckpts=1)),
        custom_hooks=[dict(type='mgd.RNGStateHook'), dict(type='mgd.FiniteLossHook')],
        randomness=dict(seed=0),
        resume=resume,
        default_scope='mmengine',
    )


def crash_while_writing(monkeypatch, work_dir):
    """From now on a checkpoint write stops half way, as if the process were killed."""

    def put(self, obj, filepath):
        with open(filepath, 'wb') as f:
            f.write(obj[: len(obj) // 2])
        raise RuntimeError('simulated crash while saving')

    monkeypatch.setattr(LocalBackend, 'put', put)


@pytest.fixture
def trained_two_epochs(tmp_path):
    make_runner(tmp_path, 2, 'mgd.AtomicCheckpointHook').train()
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'epoch_2.pth')
    return tmp_path


def test_crash_mid_save_leaves_the_previous_checkpoint_to_resume(trained_two_epochs, monkeypatch):
    work_dir = trained_two_epochs
    with monkeypatch.context() as patch:
        crash_while_writing(patch, work_dir)
        with pytest.raises(RuntimeError, match='simulated crash'):
            make_runner(work_dir, 3, 'mgd.AtomicCheckpointHook', resume=True).train()
    # the previous checkpoint is intact and named; no half file under a real name
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'epoch_2.pth')
    assert torch.load(work_dir / 'epoch_2.pth')['meta']['epoch'] == 2
    assert not (work_dir / 'epoch_3.pth').exists()
    assert not list(work_dir.glob('*.tmp'))

    runner = make_runner(work_dir, 3, 'mgd.AtomicCheckpointHook', resume=True)
    runner.train()
    assert runner.epoch == 3
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'epoch_3.pth')
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['epoch_3.pth']  # max_keep_ckpts


def test_stock_checkpoint_hook_loses_every_checkpoint(tmp_path, monkeypatch):
    """Why the atomic hook exists: mmengine deletes the old file before writing the new one."""
    make_runner(tmp_path, 2, 'CheckpointHook').train()
    with monkeypatch.context() as patch:
        crash_while_writing(patch, tmp_path)
        with pytest.raises(RuntimeError, match='simulated crash'):
            make_runner(tmp_path, 3, 'CheckpointHook', resume=True).train()
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'epoch_2.pth')
    assert not (tmp_path / 'epoch_2.pth').exists()  # deleted before saving epoch 3
    assert (tmp_path / 'epoch_3.pth').exists()  # half written
    with pytest.raises((RuntimeError, OSError)):  # zip reader errors vary with the cut
        torch.load(tmp_path / 'epoch_3.pth')


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    torch.save({'rng_state': get_rng_state()}, tmp_path / 'ckpt.pth')
    expected = torch.rand(3), np.random.rand(3), random.random()
    torch.manual_seed(9), np.random.seed(9), random.seed(9)
    set_rng_state(torch.load(tmp_path / 'ckpt.pth', weights_only=True)['rng_state'])
    drawn = torch.rand(3), np.random.rand(3), random.random()
    assert torch.equal(drawn[0], expected[0])
    assert np.array_equal(drawn[1], expected[1]) and drawn[2] == expected[2]


def test_validation_does_not_shift_the_training_random_streams():
    hook = RNGStateHook()
    torch.manual_seed(0)
    hook.before_val(runner=None)
    torch.rand(10)  # whatever validation draws
    checkpoint = {}
    hook.before_save_checkpoint(None, checkpoint)  # save_best saves during validation
    hook.after_val(runner=None)
    after = torch.rand(2)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(2))
    set_rng_state(checkpoint['rng_state'])  # the checkpoint continues as training does
    assert torch.equal(after, torch.rand(2))


def test_resumed_toy_run_equals_the_uninterrupted_one(tmp_path):
    make_runner(tmp_path / 'full', 3, 'mgd.AtomicCheckpointHook').train()
    full = torch.load(tmp_path / 'full' / 'epoch_3.pth')
    for name, keep_rng_state in (('cut', True), ('control', False)):
        make_runner(tmp_path / name, 2, 'mgd.AtomicCheckpointHook').train()
        if not keep_rng_state:  # as mmengine's own checkpoints are
            path = tmp_path / name / 'epoch_2.pth'
            torch.save({k: v for k, v in torch.load(path).items() if k != 'rng_state'}, path)
        make_runner(tmp_path / name, 3, 'mgd.AtomicCheckpointHook', resume=True).train()
        resumed = torch.load(tmp_path / name / 'epoch_3.pth')
        same = [torch.equal(v, resumed['state_dict'][k]) for k, v in full['state_dict'].items()]
        assert all(same) if keep_rng_state else not any(same), name
    assert torch.equal(
        full['rng_state']['torch'],
        torch.load(tmp_path / 'cut' / 'epoch_3.pth')['rng_state']['torch'],
    )


# Every config that trains (neu_det_detection.py and neu_cls_classification.py hold only the
# data of the NEU-DET and NEU-CLS configs).
DATA_ONLY = ('neu_det_detection.py', 'neu_cls_classification.py')
TRAINING_CONFIGS = [
    p
    for p in sorted((REPO / 'configs').glob('*/*.py'))
    if p.name not in DATA_ONLY and p.parent.name != '_base_'
]


@pytest.mark.parametrize('config', TRAINING_CONFIGS, ids=lambda p: f'{p.parent.name}/{p.name}')
def test_every_config_saves_crash_safe_checkpoints_with_the_rng_state(config):
    cfg = Config.fromfile(str(config))
    assert cfg.default_hooks.checkpoint.type == 'mgd.AtomicCheckpointHook'
    # after the stock config's own hooks (mmyolo's EMA...: test_yolo_configs.py)
    ours = [h['type'] for h in cfg.custom_hooks if h['type'].startswith('mgd.')]
    assert ours == ['mgd.RNGStateHook', 'mgd.FiniteLossHook', 'mgd.TeacherCacheHook']
    assert [h['type'] for h in cfg.custom_hooks][-3:] == ours


def test_nan_loss_stops_training_before_it_is_saved(tmp_path):
    runner = make_runner(tmp_path, 3, 'mgd.AtomicCheckpointHook', model=DivergingModel())
    with pytest.raises(FloatingPointError) as info:
        runner.train()
    message = str(info.value)
    assert message.startswith('non-finite loss at iteration 3 (epoch 2): ')
    assert 'loss_weighted=nan' in message and 'loss_task' not in message
    assert 'alpha_mgd' in message and 'clip_grad' in message
    # epoch 1 was saved; nothing trained on the NaN loss was
    assert sorted(p.name for p in tmp_path.glob('*.pth*')) == ['epoch_1.pth']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'epoch_1.pth')
    saved = torch.load(tmp_path / 'epoch_1.pth')['state_dict']
    assert all(torch.isfinite(v).all() for v in saved.values())


def test_a_disk_too_small_for_the_checkpoints_is_refused_before_training(tmp_path, monkeypatch):
    from collections import namedtuple

    from mgd.engine.hooks import checkpoint_bytes

    # the toy model: 3 float32 parameters -> 12 B of weights + 24 B of optimizer moments
    assert checkpoint_bytes(ToyModel()) == 36
    usage = namedtuple('usage', 'total used free')
    monkeypatch.setattr('shutil.disk_usage', lambda path: usage(100, 90, 50))
    runner = make_runner(tmp_path, 3, 'mgd.AtomicCheckpointHook')
    with pytest.raises(PermissionError) as info:  # max_keep_ckpts=1: 2 files at the peak
        runner.train()
    assert str(info.value) == (
        f'{tmp_path} has 50 B free, and the run will keep 2 checkpoints of about 36 B each: '
        'free some space, keep fewer (--cfg-options default_hooks.checkpoint.max_keep_ckpts=1), '
        'or pass another --work-dir.'
    )
    assert not list(tmp_path.glob('*.pth'))  # refused before the first iteration


def test_a_disk_that_fills_while_saving_names_the_folder_and_keeps_the_last(
    trained_two_epochs, monkeypatch
):
    import errno

    work_dir = trained_two_epochs

    def full(self, obj, filepath):
        raise OSError(errno.ENOSPC, 'No space left on device', filepath)

    monkeypatch.setattr(LocalBackend, 'put', full)
    with pytest.raises(PermissionError, match=rf'^no space left in {work_dir} for the checkpoint '
                       r'of step 3 \(about 36 B; .* free\)\. The last complete checkpoint is '
                       'kept'):  # fmt: skip
        make_runner(work_dir, 3, 'mgd.AtomicCheckpointHook', resume=True).train()
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'epoch_2.pth')
