"""``--cfg-options`` keys that are not in the config (typos) are refused with the closest
existing keys, unless ``allow_new_keys``; legitimate new arguments still pass."""

from __future__ import annotations

import re

import pytest
from mmengine.config import Config
from utils import DEMO_MGD, REPO

from mgd.utils.cfg_options import check_cfg_options
from mgd.utils.config import load_config

pytestmark = pytest.mark.usefixtures('one_thread')  # see tests/conftest.py


@pytest.fixture(scope='module')
def cfg() -> Config:
    return Config.fromfile(str(DEMO_MGD))


def test_typo_is_refused_with_the_key_it_meant():
    with pytest.raises(ValueError) as info:
        load_config(str(DEMO_MGD), {'model.teacher_ckp': 'teacher.pth'})
    message = str(info.value)
    assert message.startswith(
        '--cfg-options names keys that are not in the config:\n  '
        "'model.teacher_ckp': the config has no such key under 'model', "
        "nor is it an argument of 'mmrazor.MGDDistill'; did you mean "
        "'model.teacher_ckpt'"
    )
    assert message.endswith('If the key is new on purpose, pass --allow-new-keys.')


def test_allow_new_keys_merges_it():
    cfg = load_config(str(DEMO_MGD), {'model.teacher_ckp': 'teacher.pth'}, allow_new_keys=True)
    assert cfg.model.teacher_ckp == 'teacher.pth'


@pytest.mark.parametrize(
    'options',
    [
        {'model.teacher_ckpt': 'teacher.pth'},  # exists
        {'train_dataloader.dataset.pipeline.2.scale': (64, 64)},  # a list index
        {'model.architecture.backbone.frozen_stages': 1},  # new, an argument of ResNet
        {'optim_wrapper.accumulative_counts': 2},  # new, an argument of OptimWrapper
        {'train_cfg.val_begin': 3},  # new, an argument of EpochBasedTrainLoop
        {'train_dataloader.pin_memory': True},  # new, an argument of DataLoader
        {'randomness.deterministic': True},  # new, read by Runner.set_randomness
        {'find_unused_parameters': True, 'load_from': 'x.pth'},  # top-level keys the Runner reads
        {'model.teacher.bbox_head.num_classes': 3},  # merged into the teacher's cfg_path config
        {
            'model.architecture.neck._delete_': True,
            'model.architecture.neck.type': 'PAFPN',
            'model.architecture.neck.anything': 1,
        },  # a dict replaced in the same options
    ],
)
def test_accepted(cfg, options):
    check_cfg_options(cfg, options)


@pytest.mark.parametrize(
    'key, reason, meant',
    [
        (
            'model.architecture.backbon.depth',
            "no such key under 'model.architecture', nor is it an " "argument of 'RetinaNet'",
            'model.architecture.backbone.depth',
        ),
        (
            'default_hooks.checkpoint.max_keep_ckpt',
            "argument of 'mgd.AtomicCheckpointHook'",
            'default_hooks.checkpoint.max_keep_ckpts',
        ),
        ('train_dataloader.batchsize', 'argument of DataLoader', 'train_dataloader.batch_size'),
        ('lod_from', 'no such key at the top level, nor is it an argument of Runner', 'load_from'),
        (
            'model.architecture.train_cfg.assigner.pos_iou_th',
            "argument of 'MaxIoUAssigner'",
            'model.architecture.train_cfg.assigner.pos_iou_thr',
        ),
        (
            'train_dataloader.dataset.pipeline.7.scale',
            "'train_dataloader.dataset.pipeline' is a " "list of 5 items, '7' is no index",
            'train_dataloader.dataset.pipeline.2.scale',
        ),
        ('model.teacher_ckpt.path', "'model.teacher_ckpt' is a str, not a dict", None),
    ],
)
def test_refused(cfg, key, reason, meant):
    with pytest.raises(ValueError) as info:
        check_cfg_options(cfg, {key: 1})
    message = str(info.value)
    assert f'{key!r}: ' in message and reason in message
    if meant:
        assert re.search(f"did you mean '{re.escape(meant)}'", message), message


def test_delete_covers_only_its_own_dict(cfg):
    options = {'model.architecture.neck._delete_': True, 'model.architecture.nek.type': 'FPN'}
    with pytest.raises(ValueError, match="'model.architecture.nek.type'"):
        check_cfg_options(cfg, options)


def test_all_unknown_keys_are_listed(cfg):
    with pytest.raises(ValueError) as info:
        check_cfg_options(cfg, {'model.teacher_ckp': 1, 'lod_from': 2, 'load_from': 3})
    assert str(info.value).count('did you mean') == 2


@pytest.mark.parametrize(
    'option, keys',
    [
        (
            {'data_root': '/elsewhere/'},
            'train_dataloader.dataset.data_root, val_dataloader.dataset.data_root, '
            'test_dataloader.dataset.data_root (or edit data_root',
        ),
        (
            {'image_size': (64, 64)},
            'train_dataloader.dataset.pipeline.2.scale, val_dataloader.dataset.pipeline.1.scale, '
            'test_dataloader.dataset.pipeline.1.scale (or edit image_size',
        ),
        ({'classes': ('a',)}, 'train_dataloader.dataset.metainfo.classes, '),
        ({'backend_args': None}, 'the keys computed from it (or edit backend_args'),
    ],
)
def test_a_variable_of_the_file_is_refused_with_the_keys_that_use_it(option, keys):
    """The file read these when it was parsed: setting them afterwards would change nothing
    that runs (the dumped config would still show the new value)."""
    from mgd.utils.config import load_config

    own = str(REPO / 'configs' / 'own_data' / 'retinanet_r50_fpn_36e_own_data.py')
    name = next(iter(option))
    with pytest.raises(ValueError) as info:
        load_config(own, option)
    message = str(info.value)
    assert message.startswith('--cfg-options would be ignored:')
    assert (
        f"{name}: '{name}' is a variable of the config file, used when the file was read" in message
    )
    assert keys in message
    # the keys it names take effect
    cfg = load_config(own, {'train_dataloader.dataset.data_root': '/elsewhere/', 'load_from': None})
    assert cfg.train_dataloader.dataset.data_root == '/elsewhere/' and cfg.load_from is None
