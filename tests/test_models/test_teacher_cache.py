"""``model.teacher_cache``: the teacher's recorded features stored once per image and flip,
read back instead of running the teacher; refused when the pipeline has other random
transforms; a new folder when what decides the features changes; safe against a kill."""

from __future__ import annotations

import os
import threading

import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import DATASETS, DefaultScope
from utils import build_model

from mgd.models.algorithms import teacher_cache as cache_module
from mgd.models.algorithms.teacher_cache import sample_key, uncovered_transform
from mgd.utils.errors import ConfigError

pytestmark = pytest.mark.usefixtures('one_thread')  # see tests/conftest.py


@pytest.fixture
def setup(mgd_cfg, tmp_path):
    """The demo MGD model in training mode with its cache in ``tmp_path/cache``, and a
    function giving a preprocessed training batch of the given dataset indices (not flipped:
    the same image twice is the same key)."""
    mgd_cfg.model.teacher_cache = str(tmp_path / 'cache')
    flip = mgd_cfg.train_dataloader.dataset.pipeline[3]
    assert flip.type == 'RandomFlip'
    flip.prob = 0.0
    model = build_model(mgd_cfg)
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DATASETS.build(mgd_cfg.train_dataloader.dataset)
    model.attach_teacher_cache(mgd_cfg, len(dataset))

    def batch(*indices):
        return model.data_preprocessor(pseudo_collate([dataset[i] for i in indices]), True)

    return model, batch, mgd_cfg


@pytest.fixture
def logged(monkeypatch) -> list[tuple[int, str]]:
    """What the distiller and the cache log: (level, message)."""
    from mgd.models.algorithms import mgd_distill

    messages = []
    for module in (mgd_distill, cache_module):
        monkeypatch.setattr(
            module, 'print_log', lambda msg, logger=None, level=20: messages.append((level, msg))
        )
    return messages


def count_teacher_batches(model) -> list[int]:
    """Records the batch size of every teacher forward from now on."""
    sizes = []
    forward = model.teacher.extract_feat
    model.teacher.extract_feat = lambda x: (sizes.append(x.shape[0]), forward(x))[1]
    return sizes


def run(model, data, seed=0):
    torch.manual_seed(seed)  # the same random masks
    losses = model(**data, mode='loss')
    recorder = model.distiller.teacher_recorders.get_recorder('feats')
    features = [f.clone() for f in recorder.get_record_data()]
    return {k: v.item() for k, v in losses.items() if k.startswith('distill.')}, features


def entries(model) -> list[str]:
    return sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(model._cache.root)
        for name in names
        if name.endswith('.pt')
    )


def test_stored_features_are_read_back_and_the_teacher_runs_only_on_new_images(setup):
    model, batch, _ = setup
    data = batch(0, 1)
    cache = model._cache
    model._cache = None
    live_losses, live = run(model, data)
    model._cache = cache
    sizes = count_teacher_batches(model)
    first_losses, first = run(model, data)  # nothing stored: the teacher runs, entries written
    assert sizes == [2] and len(entries(model)) == 2
    assert first_losses == live_losses
    assert all(torch.equal(a, b) for a, b in zip(first, live))
    losses, read = run(model, data)  # read back: no teacher forward
    assert sizes == [2]
    assert [f.shape for f in read] == [f.shape for f in live] and len(read) == 5
    for ours, theirs in zip(read, live):
        assert ours.dtype == torch.float32
        torch.testing.assert_close(ours, theirs, rtol=1e-3, atol=1e-3 * theirs.abs().max())
        assert torch.equal(ours, theirs.half().float())  # exactly the float16 rounding
    assert losses.keys() == live_losses.keys()
    for key, value in live_losses.items():
        assert losses[key] == pytest.approx(value, rel=1e-3), key
    run(model, batch(1, 2))  # image 1 is stored, image 2 is not
    assert sizes == [2, 1] and len(entries(model)) == 3
    assert model.teacher_cache_report() == 'teacher cache: 3 images read, 3 computed'
    assert model.teacher_cache_report() == 'teacher cache: 0 images read, 0 computed'


def test_the_key_covers_flip_shape_and_the_image_file(setup, tmp_path):
    model, batch, _ = setup
    sample = batch(0)['data_samples'][0]
    key = sample_key(sample, (256, 256))
    assert sample_key(sample, (256, 288)) != key  # other padding
    flipped = sample.clone()
    flipped.set_metainfo(dict(flip=not sample.flip, flip_direction='horizontal'))
    assert sample_key(flipped, (256, 256)) != key
    os.utime(sample.img_path, ns=(0, 0))  # the file changed (its time; a new size would too)
    assert sample_key(sample, (256, 256)) != key


def test_what_decides_the_features_names_the_folder(mgd_cfg, tmp_path):
    mgd_cfg.model.teacher_cache = str(tmp_path)
    model = build_model(mgd_cfg)
    model.attach_teacher_cache(mgd_cfg, 8)
    roots = {model._cache.root}
    model.attach_teacher_cache(mgd_cfg, 8)
    assert {model._cache.root} == roots  # the same run again: the same folder
    with torch.no_grad():
        model.teacher.neck.fpn_convs[0].conv.weight[0, 0, 0, 0] += 1  # another teacher
    model.attach_teacher_cache(mgd_cfg, 8)
    roots.add(model._cache.root)
    mgd_cfg.train_dataloader.dataset.pipeline[2].scale = (224, 224)  # another pipeline
    model.attach_teacher_cache(mgd_cfg, 8)
    roots.add(model._cache.root)
    assert len(roots) == 3
    assert all(os.path.isfile(os.path.join(root, 'fingerprint.json')) for root in roots)


@pytest.mark.parametrize(
    'transform, named',
    [
        (dict(type='PhotoMetricDistortion'), 'PhotoMetricDistortion'),
        (dict(type='mmdet.RandomCrop', crop_size=(64, 64)), 'RandomCrop'),
        (dict(type='RandomResize', scale=(256, 256), ratio_range=(0.5, 1.5)), 'RandomResize'),
    ],
)
def test_another_random_transform_keeps_the_teacher_live(setup, transform, named, logged):
    model, batch, cfg = setup
    cfg.train_dataloader.dataset.pipeline.insert(3, transform)
    assert named in uncovered_transform(cfg.train_dataloader.dataset, None)
    model.attach_teacher_cache(cfg, 8)
    assert model._cache is None
    level, message = logged[-1]
    assert level == 30
    assert message.startswith(f'model.teacher_cache is not used: the training pipeline has {named}')
    assert message.endswith('The teacher runs live.')
    sizes = count_teacher_batches(model)
    run(model, batch(0))
    run(model, batch(0))
    assert sizes == [1, 1]  # live every time


def test_batch_augments_and_wrapped_datasets_are_checked(mgd_cfg):
    dataset = mgd_cfg.train_dataloader.dataset
    assert uncovered_transform(dataset, None) is None
    assert 'batch_augments' in uncovered_transform(dataset, dict(batch_augments=[dict()]))
    wrapped = dict(type='RepeatDataset', times=2, dataset=dict(dataset))
    wrapped['dataset']['pipeline'] = [*dataset.pipeline, dict(type='mmdet.CutOut', n_holes=1)]
    assert 'CutOut' in uncovered_transform(wrapped, None)


def test_over_the_size_limit_nothing_is_written(setup, logged):
    model, batch, _ = setup
    model._cache.limit_gib = 1e-6
    sizes = count_teacher_batches(model)
    run(model, batch(0, 1))
    run(model, batch(0, 1))
    assert sizes == [2, 2] and entries(model) == []
    ((level, message),) = logged  # once
    assert level == 30 and message.startswith(f'teacher cache {model._cache.root}: ')
    assert 'MiB per image and flip, about' in message and 'for 8 images x 3 flip states' in message
    assert 'above the limit, so the teacher runs live' in message


def test_a_kill_while_writing_leaves_no_entry_and_a_damaged_one_is_computed_again(
    setup, monkeypatch
):
    model, batch, _ = setup
    data = batch(0)

    def killed(obj, f):
        f.write(b'half an entry')
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_module.torch, 'save', killed)
    with pytest.raises(KeyboardInterrupt):
        run(model, data)
    assert entries(model) == []  # only a temporary file
    monkeypatch.undo()
    sizes = count_teacher_batches(model)
    _, live = run(model, data)
    (entry,) = entries(model)
    with open(entry, 'r+b') as f:  # a damaged entry (a disk full, a copy cut short)
        f.truncate(100)
    _, again = run(model, data)
    assert sizes == [1, 1]  # computed again, not read
    assert all(torch.equal(a, b) for a, b in zip(again, live))
    run(model, data)
    assert sizes == [1, 1]  # rewritten whole: read now


def test_concurrent_writers_of_one_entry_never_show_half_of_it(setup):
    model, batch, _ = setup
    cache = model._cache
    records = [[(torch.randn(64, 32, 32).half(),)]]
    key = 'one image'
    seen, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            seen.append(cache.read(key))

    thread = threading.Thread(target=reader)
    thread.start()
    writers = [threading.Thread(target=lambda: [cache.write(key, records) for _ in range(20)])
               for _ in range(2)]  # fmt: skip
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    thread.join()
    whole = [s for s in seen if s is not None]
    assert whole and all(torch.equal(s[0][0][0], records[0][0][0]) for s in whole)


def test_a_cache_without_the_hook_is_refused(mgd_cfg, tmp_path):
    mgd_cfg.model.teacher_cache = str(tmp_path)
    model = build_model(mgd_cfg)
    from utils import detection_batch

    with pytest.raises(ConfigError, match='no mgd.TeacherCacheHook is in custom_hooks'):
        model(**detection_batch(model), mode='loss')


def test_training_with_the_cache_reads_what_the_first_epoch_stored(
    demo_data, teacher_ckpt, tmp_path
):
    """``tools/train.py`` with ``--cfg-options model.teacher_cache=DIR``, as a user runs it:
    no flip (prob 0), so epoch 1 computes every image and epoch 2 reads every one; a second
    run (another seed, 1 epoch) with the same teacher and data reads everything at once."""
    import re

    from tool_run import run_tool
    from utils import DEMO_MGD, data_options

    options = [f'{k}={v}' for k, v in data_options(demo_data).items()]
    options += [f'model.teacher_ckpt={teacher_ckpt}', f'model.teacher_cache={tmp_path}/cache',
                'train_dataloader.dataset.pipeline.3.prob=0.0',
                'train_dataloader.batch_size=4']  # fmt: skip
    for seed, epochs in ((0, 2), (1, 1)):
        work_dir = tmp_path / f'seed{seed}'
        run_tool('tools/train.py', DEMO_MGD, '--work-dir', work_dir, '--cfg-options', *options,
                 f'randomness.seed={seed}', f'train_cfg.max_epochs={epochs}',
                 f'train_cfg.val_interval={epochs}')  # fmt: skip
        (log,) = work_dir.glob('*/*.log')
        reports = re.findall(r'epoch (\d): teacher cache: (\d+) images read, (\d+) computed',
                             log.read_text())  # fmt: skip
        expected = [('1', '0', '8'), ('2', '8', '0')] if seed == 0 else [('1', '8', '0')]
        assert reports == expected
    (root,) = (tmp_path / 'cache').iterdir()  # one fingerprint: both runs shared it
    assert len(list(root.glob('*/*.pt'))) == 8
