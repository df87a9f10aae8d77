"""mgd.checkpoint: reading teacher checkpoints with clear errors, and extracting the student."""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request

import mgd.models  # noqa: F401  (first: its compat fixes let mmrazor import on torch 2)

# isort: split

import pytest
import torch
from torch import nn

from mgd.models.algorithms.mgd_distill import load_teacher
from mgd.utils.checkpoint import read_state_dict
from mgd.utils.distill_config import distill_to_student


def tiny_teacher() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


@pytest.fixture
def teacher_file(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / 'teacher.pth'
    torch.save({'state_dict': tiny_teacher().state_dict(), 'meta': {'epoch': 12}}, path)
    return path


def test_missing_file_names_the_path_and_the_option(tmp_path):
    path = str(tmp_path / 'nowhere' / 'teacher.pth')
    with pytest.raises(FileNotFoundError) as info:
        load_teacher(tiny_teacher(), path)
    assert path in str(info.value)
    assert '--cfg-options model.teacher_ckpt=' in str(info.value)


def test_unreachable_url_gives_the_offline_message(monkeypatch):
    attempts = []

    def offline(url, *args, **kwargs):
        attempts.append(url)
        raise urllib.error.URLError('[Errno -3] Temporary failure in name resolution')

    # mgd.checkpoint.load_url calls torch.hub; urlopen is a safety net against real network
    monkeypatch.setattr('torch.hub.load_state_dict_from_url', offline)
    monkeypatch.setattr(urllib.request, 'urlopen', offline)
    url = 'https://download.openmmlab.com/mmdetection/v2.0/teacher.pth'
    with pytest.raises(RuntimeError) as info:
        read_state_dict(url, 'model.teacher_ckpt')
    assert attempts == [url]
    message = str(info.value)
    assert f'could not download model.teacher_ckpt {url!r}' in message
    assert 'URLError' in message
    assert 'Without network access' in message
    assert '--cfg-options model.teacher_ckpt=' in message


def test_random_bytes_name_the_file(tmp_path):
    path = tmp_path / 'noise.pth'
    path.write_bytes(os.urandom(4096))
    with pytest.raises(RuntimeError, match=re.escape(f'could not read checkpoint {str(path)!r}')):
        read_state_dict(str(path))


def test_truncated_checkpoint_names_the_file(teacher_file):
    data = teacher_file.read_bytes()
    teacher_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError, match=re.escape(repr(str(teacher_file)))) as info:
        load_teacher(tiny_teacher(), str(teacher_file))
    assert 'completely written' in str(info.value)


def test_loads_a_matching_teacher_and_strips_ddp_prefix(tmp_path):
    torch.manual_seed(0)
    source = tiny_teacher()
    path = tmp_path / 'ddp.pth'
    torch.save({'state_dict': {f'module.{k}': v for k, v in source.state_dict().items()}}, path)
    teacher = tiny_teacher()
    load_teacher(teacher, str(path))
    for key, value in source.state_dict().items():
        torch.testing.assert_close(teacher.state_dict()[key], value)


def test_checkpoint_of_another_model_refused(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(1)}}, path)
    with pytest.raises(ValueError, match="matches none of the teacher's parameter names"):
        load_teacher(tiny_teacher(), str(path))


def test_shape_mismatch_refused(tmp_path):
    wider = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
    path = tmp_path / 'wider.pth'
    torch.save({'state_dict': wider.state_dict()}, path)
    teacher = tiny_teacher()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    with pytest.raises(ValueError, match=re.escape('0.weight (8, 3, 3, 3) vs (4, 3, 3, 3)')):
        load_teacher(teacher, str(path))
    for key, value in teacher.state_dict().items():  # nothing half-loaded
        assert torch.equal(value, before[key]), key


def test_distill_to_student_keeps_only_the_student():
    weight, bias = torch.randn(2, 2), torch.randn(2)
    checkpoint = {
        'state_dict': {
            'architecture.backbone.weight': weight,
            'architecture.bbox_head.bias': bias,
            'teacher.backbone.weight': torch.randn(2, 2),
            'distiller.connectors.mgd_neck0.generation.0.weight': torch.randn(2),
            'data_preprocessor.mean': torch.zeros(3),
        },
        'meta': {'epoch': 24, 'iter': 100, 'dataset_meta': {'classes': ('a',)}, 'cfg': '...'},
        'optimizer': {'state': {}},
    }
    student = distill_to_student(checkpoint)
    assert set(student) == {'state_dict', 'meta'}
    assert list(student['state_dict']) == ['backbone.weight', 'bbox_head.bias']
    assert student['state_dict']['backbone.weight'] is weight
    assert student['meta'] == {'epoch': 24, 'iter': 100, 'dataset_meta': {'classes': ('a',)}}


def test_distill_to_student_refuses_a_plain_checkpoint():
    with pytest.raises(ValueError, match='not an mgd distillation checkpoint'):
        distill_to_student({'state_dict': {'backbone.weight': torch.zeros(1)}})


def test_checkpoint_that_leaves_most_of_the_teacher_random_is_refused(tmp_path):
    # the conv only: 2 of the teacher's 7 tensors (BatchNorm has 5)
    conv = {k: v for k, v in tiny_teacher().state_dict().items() if k.startswith('0.')}
    path = tmp_path / 'partial.pth'
    torch.save({'state_dict': conv}, path)
    with pytest.raises(ValueError) as info:
        load_teacher(tiny_teacher(), str(path))
    assert "holds only 2 of the teacher's 7 tensors" in str(info.value)
    assert 'partial.pth' in str(info.value)


def test_checkpoint_missing_a_few_tensors_loads_with_a_warning(tmp_path, monkeypatch):
    import mgd.models.algorithms.teacher as module

    warnings = []
    monkeypatch.setattr(module, 'print_log', lambda msg, **kw: warnings.append(msg))
    state = tiny_teacher().state_dict()
    del state['1.num_batches_tracked']
    path = tmp_path / 'almost.pth'
    torch.save({'state_dict': state}, path)
    teacher = tiny_teacher()
    load_teacher(teacher, str(path))
    assert torch.equal(teacher.state_dict()['0.weight'], state['0.weight'])
    assert warnings == ["teacher checkpoint lacks 1 tensors, e.g. ['1.num_batches_tracked']"]


def test_checkpoint_of_a_deeper_model_is_refused_naming_where_it_differs(tmp_path):
    """The r34 teacher's checkpoint given as the r18 teacher's: every r18 tensor is there with
    its shape, and more besides; loading it would train against the wrong teacher."""
    from torch import nn

    deeper = nn.Sequential(*tiny_teacher(), nn.Conv2d(4, 4, 1))  # one more layer: '2.*'
    path = tmp_path / 'deeper.pth'
    torch.save({'state_dict': deeper.state_dict()}, path)
    with pytest.raises(ValueError) as info:
        load_teacher(tiny_teacher(), str(path), 'model.teacher.teachers.r18.ckpt')
    message = str(info.value)
    assert message.startswith(f'model.teacher.teachers.r18.ckpt {str(path)!r} holds 2 tensors ')
    assert 'the teacher does not have, in 2.weight (1), 2.bias (1)' in message
    assert "another depth or layout, or another teacher's" in message


def test_checkpoint_lacking_weights_is_refused_naming_their_module(tmp_path):
    state = tiny_teacher().state_dict()
    del state['1.weight']  # the BatchNorm's scale: the teacher would compute something else
    path = tmp_path / 'lacking.pth'
    torch.save({'state_dict': state}, path)
    with pytest.raises(ValueError, match=r'lacks 1 of its tensors, in 1.weight \(1\): they would '):
        load_teacher(tiny_teacher(), str(path))


def test_an_offline_ensemble_teacher_is_told_its_own_key(monkeypatch):
    """In an ensemble the key is model.teacher.teachers.NAME.ckpt (model.teacher_ckpt is
    refused there): the advice names it."""
    import urllib.error

    from mgd.utils.checkpoint import read_state_dict

    def offline(url, **kwargs):
        raise urllib.error.URLError('[Errno -3] Temporary failure in name resolution')

    monkeypatch.setattr(torch.hub, 'load_state_dict_from_url', offline)
    with pytest.raises(RuntimeError) as info:
        read_state_dict('https://example.org/r34.pth', 'model.teacher.teachers.r34.ckpt')
    assert str(info.value).endswith(
        'pass a local file with --cfg-options model.teacher.teachers.r34.ckpt=/path/to/teacher.pth'
    )
    with pytest.raises(FileNotFoundError, match=r'teachers.r18.ckpt=/path/to/teacher.pth$'):
        read_state_dict('/nope.pth', 'model.teacher.teachers.r18.ckpt')
