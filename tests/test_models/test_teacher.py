"""Teacher checkpoints: every way ``model.teacher_ckpt`` can be wrong fails at build time with
the path and the fix; checkpoints are read with ``weights_only=True``; nothing touches the
network unless the config names a URL."""

from __future__ import annotations

import argparse
import os
import re
import socket
import urllib.error
from collections import OrderedDict

import pytest
import torch
from utils import build_model, detection_batch

from mgd.utils.checkpoint import read_state_dict

pytestmark = pytest.mark.usefixtures('one_thread')  # see tests/conftest.py

URL = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/teacher.pth'


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f'network access attempted: {args}')

    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setattr(socket, 'create_connection', refuse)
    monkeypatch.setattr(socket, 'getaddrinfo', refuse)
    return attempts


@pytest.fixture
def load_calls(monkeypatch):
    """Records the ``weights_only`` of every ``torch.load``."""
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get('weights_only'))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, 'load', spy)
    return calls


def test_local_teacher_builds_and_trains_without_network(
    mgd_cfg, teacher_ckpt, no_network, load_calls
):
    model = build_model(mgd_cfg)
    assert load_calls == [True]  # the teacher checkpoint, read weights only
    saved = torch.load(teacher_ckpt)['state_dict']
    teacher = model.teacher.state_dict()
    assert teacher.keys() == saved.keys()
    assert all(torch.equal(teacher[k], saved[k]) for k in saved)  # from the file, every tensor
    losses = model(**detection_batch(model), mode='loss')
    total = sum(v if torch.is_tensor(v) else sum(v) for v in losses.values())
    total.backward()
    assert model.distiller.connectors['mgd_neck0'].generation[0].weight.grad.abs().sum() > 0
    assert model.student.backbone.conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.parameters())  # frozen: no gradient
    assert not no_network


def test_model_zoo_format_loads_weights_only(mgd_cfg, teacher_ckpt, tmp_path, load_calls):
    state_dict = torch.load(teacher_ckpt)['state_dict']
    zoo = tmp_path / 'retinanet_zoo.pth'  # as OpenMMLab's model zoo (mmdet 2.x tools) wrote
    torch.save(
        {
            'state_dict': OrderedDict(state_dict),
            'meta': {
                'mmdet_version': '2.25.0+abc',
                'CLASSES': ('crazing', 'inclusion'),
                'config': 'model = dict(...)',
                'epoch': 24,
                'iter': 87936,
                'time': 'Sat Jun 18 12:00:00 2022',
                'hook_msgs': {'last_ckpt': 'x.pth'},
            },
            'optimizer': {'state': {}, 'param_groups': [{'lr': 0.01, 'params': [0, 1]}]},
        },
        zoo,
    )
    load_calls.clear()
    assert list(read_state_dict(str(zoo))) == list(state_dict)
    assert load_calls == [True]
    mgd_cfg.model.teacher_ckpt = str(zoo)
    model = build_model(mgd_cfg)
    assert torch.equal(
        model.teacher.state_dict()['neck.fpn_convs.0.conv.weight'],
        state_dict['neck.fpn_convs.0.conv.weight'],
    )


class _Payload:
    """Unpickling this would create ``path``: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, 'w')


class _System:
    def __reduce__(self):
        return os.system, ('touch /tmp/mgd_code_ran',)


@pytest.mark.parametrize('payload', ['open', 'system'])
def test_checkpoint_with_code_is_refused_not_run_and_never_advised(mgd_cfg, tmp_path, payload):
    marker = tmp_path / 'code_ran'
    path = tmp_path / 'evil.pth'
    evil = _Payload(str(marker)) if payload == 'open' else _System()
    torch.save({'state_dict': {}, 'meta': evil}, path)
    mgd_cfg.model.teacher_ckpt = str(path)
    with pytest.raises(RuntimeError) as info:
        build_model(mgd_cfg)
    message = str(info.value)
    called = 'io.open' if payload == 'open' else 'posix.system'
    assert f'model.teacher_ckpt {str(path)!r} contains code: its pickle calls {called}' in message
    assert 'Do not load it (not with weights_only=False either)' in message
    assert 'If you trust the file' not in message  # no advice that would run it
    assert not marker.exists()


def test_checkpoint_with_a_harmless_class_gets_the_weights_only_advice(mgd_cfg, tmp_path):
    path = tmp_path / 'objects.pth'
    torch.save({'state_dict': {}, 'meta': argparse.Namespace(epoch=3)}, path)
    mgd_cfg.model.teacher_ckpt = str(path)
    with pytest.raises(RuntimeError) as info:
        build_model(mgd_cfg)
    message = str(info.value)
    assert 'holds python objects other than tensors and plain data (argparse.Namespace)' in message
    assert 'If you trust the file, keep only its weights' in message


@pytest.mark.parametrize(
    'problem, error, message',
    [
        (
            'missing',
            FileNotFoundError,
            'does not exist: pass a local file with --cfg-options '
            'model.teacher_ckpt=/path/to/teacher.pth',
        ),
        ('garbage', RuntimeError, 'could not read model.teacher_ckpt'),
        ('truncated', RuntimeError, 'completely written?'),
        ('another model', ValueError, "matches none of the teacher's parameter names"),
    ],
)
def test_bad_teacher_checkpoint_fails_the_build(
    mgd_cfg, teacher_ckpt, tmp_path, problem, error, message
):
    path = tmp_path / 'teacher.pth'
    if problem == 'garbage':
        path.write_bytes(os.urandom(2048))
    elif problem == 'truncated':
        data = teacher_ckpt.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif problem == 'another model':
        torch.save({'state_dict': {'conv1.weight': torch.zeros(8, 3, 3, 3)}}, path)
    mgd_cfg.model.teacher_ckpt = str(path)
    with pytest.raises(error) as info:
        build_model(mgd_cfg)
    assert str(path) in str(info.value) and message in str(info.value)


def test_url_offline_says_how_to_pass_a_local_file(mgd_cfg, monkeypatch, no_network):
    calls = []

    def offline(url, **kwargs):
        calls.append((url, kwargs))
        raise urllib.error.URLError('[Errno -3] Temporary failure in name resolution')

    monkeypatch.setattr(torch.hub, 'load_state_dict_from_url', offline)
    mgd_cfg.model.teacher_ckpt = URL
    with pytest.raises(RuntimeError) as info:
        build_model(mgd_cfg)
    assert calls == [(URL, {'map_location': 'cpu', 'weights_only': True})]
    assert re.search(
        f'could not download model.teacher_ckpt {re.escape(repr(URL))} '
        r'\(URLError: .*\). Without network access, download it on another '
        'machine and pass a local file with --cfg-options model.teacher_ckpt=',
        str(info.value),
    )
