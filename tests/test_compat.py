"""mgd.compat: each fix is shown to be needed (without it things break) and to work.

Import order matters here (the fixes must run before mmrazor is imported), so the checks of a
fresh interpreter run in subprocesses; the pytest process itself has imported ``mgd``.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import urllib.request

import mgd  # noqa: F401  (first: its compat fixes let mmrazor import on torch 2)

# isort: split

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner, load_checkpoint
from mmrazor.registry import MODELS
from torch import nn
from torch.utils.data import Dataset

from mgd.compat import mmengine_checkpoint_globals
from mgd.configs import mgd_distiller

TIMEOUT = 120


def run_fresh(code: str) -> subprocess.CompletedProcess:
    """Runs ``code`` in a new interpreter; returns its exit status and its output."""
    return subprocess.run(
        [sys.executable, '-c', code],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


# --- import mmrazor.models on torch 2 ------------------------------------------------------

IMPORT_WITH_MGD = """
import mgd
import mmrazor.models
from mmrazor.models import MGDConnector
from mmrazor.structures.quantization import QConfigHandler
try:
    QConfigHandler(dict(w_qscheme={}, a_qscheme={}))
except ImportError as err:
    print('QUANTIZATION:', err)
print('OK', MGDConnector.__module__)
"""


def test_import_mgd_then_mmrazor_models_and_quantization_says_why():
    result = run_fresh(IMPORT_WITH_MGD)
    assert result.returncode == 0, result.stdout
    assert 'OK mmrazor.models.architectures.connectors' in result.stdout
    assert 'QUANTIZATION: mmrazor quantization is not available' in result.stdout
    assert 'mmrazor#632' in result.stdout


# --- checkpoints written by mmengine's Runner ------------------------------------------------


class _ToyModel(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(inputs).squeeze(1)
        if mode == 'loss':
            return {'loss': ((out - labels) ** 2).mean()}
        return out


class _ToyDataset(Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict:
        return dict(inputs=torch.tensor([i, 1.0]), labels=torch.tensor(i / 8))


def toy_runner(work_dir, max_iters: int, name: str, **kwargs) -> Runner:
    return Runner(
        model=_ToyModel(),
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=dict(
            dataset=_ToyDataset(),
            batch_size=2,
            collate_fn=dict(type='default_collate'),
            sampler=dict(type='DefaultSampler', shuffle=False),
        ),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[2], by_epoch=False),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=3, by_epoch=False)),
        default_scope='mmengine',
        **kwargs,
    )


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    """A checkpoint written by a real Runner after 3 iterations, and the trained model."""
    work_dir = tmp_path_factory.mktemp('runner')
    runner = toy_runner(work_dir, 3, f'mgd_compat_train_{id(work_dir)}')
    runner.train()
    path = work_dir / 'iter_3.pth'
    assert path.is_file()
    return path, runner.model


def test_runner_checkpoint_holds_only_allowed_globals(runner_checkpoint):
    path, _ = runner_checkpoint
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(path)) == []


def test_fixes_are_needed_without_mgd(runner_checkpoint):
    """In an interpreter that never imports mgd, both breakages show."""
    path, _ = runner_checkpoint
    code = f"""
import pickle, torch
from mmengine.runner import CheckpointLoader
for load in (torch.load, CheckpointLoader.load_checkpoint):
    try:
        load({str(path)!r})
        print('LOADED')
    except pickle.UnpicklingError as err:
        print('REFUSED', str(err).splitlines()[0])
print(torch.serialization.get_unsafe_globals_in_checkpoint({str(path)!r}))
try:
    import mmrazor.models
    print('MMRAZOR IMPORTED')
except ImportError as err:
    print('MMRAZOR FAILED', err)
"""
    result = run_fresh(code)
    assert result.returncode == 0, result.stdout
    # mmengine's resume/load path runs into torch's weights_only default
    assert result.stdout.count('REFUSED Weights only load failed') == 2, result.stdout
    assert 'LOADED' not in result.stdout
    # what our allowlist adds, as found in this checkpoint (numpy 1.x module paths)
    for name in (
        'mmengine.logging.history_buffer.HistoryBuffer',
        'numpy.ndarray',
        'numpy.core.multiarray._reconstruct',
        'numpy.core.multiarray.scalar',
        'numpy.dtype',
        'builtins.getattr',
    ):
        assert f"'{name}'" in result.stdout, name
    # stock mmrazor 1.0.0 does not import on this torch
    assert 'MMRAZOR FAILED' in result.stdout and 'MMRAZOR IMPORTED' not in result.stdout


def test_torch_load_weights_only_after_import_mgd(runner_checkpoint):
    path, model = runner_checkpoint
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint['meta']['iter'] == 3
    torch.testing.assert_close(checkpoint['state_dict']['linear.weight'], model.linear.weight)
    loss_history = checkpoint['message_hub']['log_scalars']['train/loss']
    assert isinstance(loss_history, HistoryBuffer)
    assert len(loss_history.data[0]) == 3
    assert loss_history.mean() == pytest.approx(loss_history.data[0].mean())


def test_mmengine_load_checkpoint_and_resume(runner_checkpoint, tmp_path):
    path, model = runner_checkpoint
    fresh = _ToyModel()
    load_checkpoint(fresh, str(path))
    torch.testing.assert_close(fresh.linear.weight, model.linear.weight)

    runner = toy_runner(
        tmp_path, 5, f'mgd_compat_resume_{id(tmp_path)}', load_from=str(path), resume=True
    )
    runner.train()
    assert runner.iter == 5
    # the 3 logged losses came back from the checkpoint's message hub, 2 new ones were added
    assert len(runner.message_hub.get_scalar('train/loss').data[0]) == 5


class _Payload:
    """Stands for anything a malicious checkpoint could ask the unpickler to build."""


class _GetattrPayload:
    """Reaches a function's globals through getattr: how an exploit would start."""

    def __reduce__(self):
        return getattr, (HistoryBuffer.min, '__globals__')


@pytest.mark.parametrize(
    'payload,message',
    [
        (_Payload(), 'Unsupported global'),
        (_GetattrPayload(), 'refusing getattr'),
    ],
)
def test_other_globals_still_refused(tmp_path, payload, message):
    path = tmp_path / 'payload.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'payload': payload}, path)
    with pytest.raises(pickle.UnpicklingError, match=message):
        torch.load(path, weights_only=True)


def test_allowlist_has_no_code_execution_entries():
    allowed = {g[0] if isinstance(g, tuple) else g for g in mmengine_checkpoint_globals()}
    for dangerous in (getattr, eval, exec, __import__, subprocess.Popen, pickle.loads):
        assert dangerous not in allowed


# --- the teacher is never initialised from a download -----------------------------------------


def tiny_retinanet(base_channels: int, pretrained: bool) -> dict:
    init_cfg = dict(type='Pretrained', checkpoint='torchvision://resnet18') if pretrained else None
    return dict(
        _scope_='mmdet',
        type='RetinaNet',
        data_preprocessor=dict(
            type='DetDataPreprocessor',
            mean=[0, 0, 0],
            std=[1, 1, 1],
            bgr_to_rgb=True,
            pad_size_divisor=32,
        ),
        backbone=dict(
            type='ResNet',
            depth=18,
            base_channels=base_channels,
            num_stages=4,
            out_indices=(1, 2, 3),
            norm_cfg=dict(type='BN'),
            init_cfg=init_cfg,
        ),
        neck=dict(
            type='FPN',
            in_channels=[2 * base_channels, 4 * base_channels, 8 * base_channels],
            out_channels=32,
            start_level=0,
            add_extra_convs='on_input',
            num_outs=5,
        ),
        bbox_head=dict(
            type='RetinaHead',
            num_classes=6,
            in_channels=32,
            stacked_convs=1,
            feat_channels=32,
            anchor_generator=dict(
                type='AnchorGenerator',
                octave_base_scale=4,
                scales_per_octave=3,
                ratios=[0.5, 1.0, 2.0],
                strides=[8, 16, 32, 64, 128],
            ),
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[1.0] * 4
            ),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25),
            loss_bbox=dict(type='L1Loss'),
        ),
        train_cfg=dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.5,
                neg_iou_thr=0.4,
                min_pos_iou=0,
                ignore_iof_thr=-1,
            ),
            sampler=dict(type='PseudoSampler'),
            allowed_border=-1,
            pos_weight=-1,
            debug=False,
        ),
        test_cfg=dict(
            nms_pre=100,
            min_bbox_size=0,
            score_thr=0.05,
            nms=dict(type='nms', iou_threshold=0.5),
            max_per_img=10,
        ),
    )


def test_teacher_never_initialised_from_a_download(monkeypatch):
    attempts = []

    def no_network(url, *args, **kwargs):
        attempts.append(url)
        raise OSError(f'test: no network ({url})')

    monkeypatch.setattr('mmengine.runner.checkpoint.load_url', no_network)
    monkeypatch.setattr(torch.hub, 'load_state_dict_from_url', no_network)
    monkeypatch.setattr(torch.hub, 'download_url_to_file', no_network)
    monkeypatch.setattr(urllib.request, 'urlopen', no_network)

    with DefaultScope.overwrite_default_scope('mmrazor'):
        algorithm = MODELS.build(
            dict(
                type='MGDDistill',
                architecture=tiny_retinanet(16, pretrained=False),
                teacher=tiny_retinanet(32, pretrained=True),
                distiller=mgd_distiller('neck', range(5), 32, 32, 2e-5, 0.65),
            )
        )
    teacher_before = {k: v.clone() for k, v in algorithm.teacher.state_dict().items()}

    algorithm.init_weights()

    assert attempts == []
    for key, value in algorithm.teacher.state_dict().items():
        assert torch.equal(value, teacher_before[key]), key
    # control: the patches do catch the teacher's pretrained init when something runs it
    with pytest.raises(OSError, match='test: no network'):
        algorithm.teacher.backbone.init_weights()
    assert attempts == ['https://download.pytorch.org/models/resnet18-f37072fd.pth']
