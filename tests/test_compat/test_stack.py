"""mgd.compat: each fix is shown to be needed (without it things break) and to work.

Import order matters here (the fixes must run before mmrazor is imported), so the checks of a
fresh interpreter run in subprocesses; the pytest process itself has imported ``mgd``.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import urllib.request
from pathlib import Path

import mgd.models  # noqa: F401  (first: its compat fixes let mmrazor import on torch 2)

# isort: split

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner, load_checkpoint
from mmrazor.registry import MODELS
from torch import nn
from torch.utils.data import Dataset

from mgd.compat import stack
from mgd.compat.stack import mmengine_checkpoint_globals
from mgd.models import mgd_distiller

TINY_RETINANET = str(
    Path(__file__).resolve().parents[2] / 'configs' / '_base_' / 'models' / 'retinanet_r18_tiny.py'
)

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
import mgd.models
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
    """The demo's tiny RetinaNet (configs/_base_/models), optionally with an ImageNet init."""
    model = Config.fromfile(TINY_RETINANET).model
    model.merge(dict(_scope_='mmdet', backbone=dict(base_channels=base_channels)))
    model.neck.in_channels = [2 * base_channels, 4 * base_channels, 8 * base_channels]
    if pretrained:
        model.backbone.init_cfg = dict(type='Pretrained', checkpoint='torchvision://resnet18')
    return model.to_dict()


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
                distiller=mgd_distiller('neck', range(5), 64, 64, 2e-5, 0.65),
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


# --- mmdet's PointAssigner on CUDA -----------------------------------------------------------


def test_point_assigner_runs_with_the_priors_device_as_default(monkeypatch):
    """Its ``torch.arange`` (no device given) must be made where the points are: on a GPU a
    CPU index into CUDA-masked points fails (seen on an H200 with torch 2.11). The 'meta'
    device stands in for CUDA here: what matters is torch's default device inside assign."""
    from mmdet.models.task_modules.assigners import PointAssigner
    from mmengine.structures import InstanceData

    class Seen(Exception):
        pass

    def spy(*args, **kwargs):  # the first torch call of assign after its set-up
        raise Seen(torch.get_default_device())

    monkeypatch.setattr(torch, 'log2', spy)
    meta = dict(device='meta')
    priors = InstanceData(priors=torch.zeros(4, 3, **meta))
    gts = InstanceData(
        bboxes=torch.zeros(1, 4, **meta), labels=torch.zeros(1, dtype=torch.long, **meta)
    )
    with pytest.raises(Seen) as seen:
        PointAssigner().assign(priors, gts)
    assert seen.value.args[0] == torch.device('meta')
    assert torch.get_default_device() == torch.device('cpu')  # restored after the call


# --- mmpretrain beside transformers 5 --------------------------------------------------------

FAKE_TRANSFORMERS = {
    'transformers/__init__.py': "__version__ = '5.0.0'\n",
    # transformers 5 dropped these helpers, which mmpretrain's BLIP imports
    'transformers/modeling_utils.py': 'class PreTrainedModel:\n    pass\n',
    'transformers-5.0.0.dist-info/METADATA': (
        'Metadata-Version: 2.1\nName: transformers\nVersion: 5.0.0\n'
    ),
}
BUILD_RESNET = """
{imports}
from mmpretrain.registry import MODELS
print(type(MODELS.build(dict(type='ResNet', depth=18))).__name__)
"""


@pytest.mark.parametrize('with_mgd', [False, True])
def test_mmpretrain_models_build_beside_transformers_5(tmp_path, with_mgd):
    for name, text in FAKE_TRANSFORMERS.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    code = f'import sys; sys.path.insert(0, {str(tmp_path)!r})\n' + BUILD_RESNET.format(
        imports='import mgd.models' if with_mgd else 'import mmpretrain.models'
    )
    result = run_fresh(code)
    if with_mgd:
        assert result.returncode == 0, result.stdout[-2000:]
        assert result.stdout.strip().endswith('ResNet')
    else:  # the failure the fix removes (on the H200: 'NoneType takes no arguments')
        assert result.returncode != 0
        assert "from 'transformers'" in result.stdout or 'NoneType' in result.stdout


def test_mmyolo_refuses_mmcv_2_1_without_the_fix():
    result = run_fresh('import mmyolo')
    assert result.returncode != 0
    assert 'MMCV==2.1.0 is used but incompatible' in result.stdout


def test_mmyolo_imports_after_mgd_and_mmcv_keeps_its_version():
    result = run_fresh(
        'import mgd.models, mmcv, mmyolo, mmyolo.models\n'
        'from mmyolo.registry import MODELS\n'
        "print(mmcv.__version__, MODELS.get('YOLOv5Head').__name__)"
    )
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().splitlines()[-1] == '2.1.0 YOLOv5Head'


def test_the_mmyolo_fix_leaves_other_mmcv_versions_to_mmyolos_check(monkeypatch):
    import mmcv

    monkeypatch.delitem(sys.modules, 'mmyolo')
    monkeypatch.setattr(mmcv, '__version__', '2.2.0')  # nobody checked mmyolo with it
    assert stack.mmyolo_beside_mmcv_2_1() is False
    assert 'mmyolo' not in sys.modules
