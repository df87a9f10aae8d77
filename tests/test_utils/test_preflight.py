"""Missing or empty data, classes that do not match the model, and a resume pointer to nowhere
are refused from the config alone, before the Runner builds anything."""

from __future__ import annotations

import json
import re
import runpy
import shutil
import sys

import pytest
from mmengine.config import Config
from utils import DEMO_MGD, DEMO_STUDENT, data_options

from mgd.utils import preflight
from mgd.utils.preflight import check_data
from mgd.utils.run_checks import check_resume

pytestmark = pytest.mark.usefixtures('one_thread')  # see tests/conftest.py

REPO_TOOLS = DEMO_MGD.parents[2] / 'tools'


@pytest.fixture
def data(demo_data, tmp_path):
    """A private copy of the tiny data set, free to break."""
    root = tmp_path / 'data'
    shutil.copytree(demo_data, root)
    return root


def config(path, root, **options) -> Config:
    cfg = Config.fromfile(str(path))
    cfg.merge_from_dict({**data_options(root), **options})
    return cfg


def test_good_data_passes(data):
    check_data(config(DEMO_MGD, data), 'train')
    check_data(config(DEMO_MGD, data), 'test')


def test_missing_annotation_file_names_key_and_path(data):
    (data / 'annotations' / 'instances_train.json').unlink()
    with pytest.raises(FileNotFoundError) as info:
        check_data(config(DEMO_MGD, data), 'train')
    path = f'{data}/annotations/instances_train.json'
    assert f'train_dataloader.dataset.ann_file: annotation file {path!r} does not exist' in str(
        info.value
    )
    check_data(config(DEMO_MGD, data), 'test')  # testing does not read the training set


def test_every_problem_is_listed_at_once(data):
    shutil.rmtree(data / 'annotations')
    with pytest.raises(FileNotFoundError) as info:
        check_data(config(DEMO_MGD, data), 'train')
    message = str(info.value)
    assert message.startswith('the config names data that is not there:')
    for key in (
        'train_dataloader.dataset.ann_file',
        'val_dataloader.dataset.ann_file',
        'val_evaluator.ann_file',
    ):
        assert f'  {key}: annotation file' in message


@pytest.mark.parametrize(
    'content, problem',
    [
        ('', 'is empty (0 bytes)'),
        ('{"images": [], "annotations": [], "categories": []}', 'lists no images'),
        ('{"images": [{"id": 1}], "annotations": [], "categories": []}', 'has no annotations'),
        ('{"images": [', 'is not valid JSON'),
    ],
)
def test_empty_or_broken_training_annotations(data, content, problem):
    (data / 'annotations' / 'instances_train.json').write_text(content)
    with pytest.raises(FileNotFoundError, match=re.escape(problem)):
        check_data(config(DEMO_MGD, data), 'train')


def test_validation_file_without_annotations_is_fine(data):
    path = data / 'annotations' / 'instances_val.json'
    coco = json.loads(path.read_text())
    path.write_text(json.dumps(dict(coco, annotations=[])))
    check_data(config(DEMO_MGD, data), 'train')


def test_missing_image_folder(data):
    shutil.rmtree(data / 'images')
    with pytest.raises(
        FileNotFoundError,
        match=re.escape(
            f"train_dataloader.dataset.data_prefix: image folder '{data}/images/' does not " 'exist'
        ),
    ):
        check_data(config(DEMO_MGD, data), 'train')


def test_evaluator_annotation_file(data):
    cfg = config(DEMO_MGD, data, test_evaluator=dict(type='CocoMetric', ann_file='/nowhere.json'))
    with pytest.raises(
        FileNotFoundError,
        match=re.escape("test_evaluator.ann_file: annotation file '/nowhere.json' does not exist"),
    ):
        check_data(cfg, 'test')


def test_student_classes_differ_from_the_dataset(data):
    cfg = config(DEMO_MGD, data, **{'model.architecture.bbox_head.num_classes': 5})
    with pytest.raises(ValueError) as info:
        check_data(cfg, 'train')
    assert (
        'model.architecture.bbox_head.num_classes=5, but the training set '
        '(train_dataloader.dataset) has 6 classes'
    ) in str(info.value)
    assert "'crazing'" in str(info.value)


def test_plain_detector_and_default_dataset_classes(data):
    # a plain CocoDataset without metainfo has COCO's 80 classes, against the demo's 6
    cfg = config(DEMO_STUDENT, data)
    cfg.train_dataloader.dataset.type = 'CocoDataset'
    with pytest.raises(
        ValueError,
        match=re.escape(
            'model.bbox_head.num_classes=6, but the training set (train_dataloader.dataset) '
            'has 80 classes'
        ),
    ):
        check_data(cfg, 'train')


def with_classes(cfg: Config, classes: tuple) -> Config:
    for name in ('train', 'val', 'test'):
        cfg[f'{name}_dataloader'].dataset.metainfo = dict(classes=classes)
    cfg.model.architecture.bbox_head.num_classes = len(classes)
    return cfg


def test_class_names_the_annotation_file_lacks(data):
    classes = ('crazing', 'Inclusion', 'patches', 'pitted_surface', 'rolled-in_scale', 'scratch')
    with pytest.raises(ValueError) as info:
        check_data(with_classes(config(DEMO_MGD, data), classes), 'train')
    message = str(info.value)
    train_file = f'{data}/annotations/instances_train.json'
    assert (
        f"train_dataloader.dataset: the classes ['Inclusion', 'scratch'] are not categories of "
        f"{train_file!r}, whose categories are ['crazing', 'inclusion', 'patches'"
    ) in message
    assert 'val_dataloader.dataset: the classes' in message  # every file at once


def test_classes_in_another_order_than_the_file(data):
    # mmdet would number 'inclusion' 0 and call it 'patches': refused, with the right order
    classes = ('patches', 'inclusion', 'crazing', 'pitted_surface', 'rolled-in_scale', 'scratches')
    with pytest.raises(ValueError) as info:
        check_data(with_classes(config(DEMO_MGD, data), classes), 'train')
    assert (
        "mmdet numbers the labels in the file's order, so the names would go to the wrong "
        "classes: set metainfo=dict(classes=('crazing', 'inclusion', 'patches', "
        "'pitted_surface', 'rolled-in_scale', 'scratches'))."
    ) in str(info.value)


def test_a_subset_of_the_categories_is_allowed_and_the_dropped_boxes_counted(data, monkeypatch):
    content = json.loads((data / 'annotations' / 'instances_train.json').read_text())
    by_id = {c['id']: c['name'] for c in content['categories']}
    counts = {}
    for ann in content['annotations']:
        if by_id[ann['category_id']] in ('scratches', 'crazing'):
            counts[by_id[ann['category_id']]] = counts.get(by_id[ann['category_id']], 0) + 1
    classes = ('inclusion', 'patches', 'pitted_surface', 'rolled-in_scale')
    warnings = []
    monkeypatch.setattr(preflight, 'print_log', lambda message, **kwargs: warnings.append(message))
    check_data(with_classes(config(DEMO_MGD, data), classes), 'train')
    assert counts and f'they will be ignored: {counts}' in warnings[0]
    assert warnings[0].startswith('train_dataloader.dataset: ')


def test_wrapped_dataset_is_checked(data):
    cfg = config(DEMO_MGD, data)
    cfg.train_dataloader.dataset = dict(
        type='RepeatDataset', times=2, dataset=cfg.train_dataloader.dataset
    )
    (data / 'annotations' / 'instances_train.json').unlink()
    with pytest.raises(
        FileNotFoundError,
        match=re.escape('train_dataloader.dataset.dataset.ann_file: annotation file'),
    ):
        check_data(cfg, 'train')


def test_resume_pointer_to_a_deleted_checkpoint(tmp_path):
    cfg = Config(dict(work_dir=str(tmp_path), resume=True, load_from=None))
    check_resume(cfg)  # no last_checkpoint: a fresh start, as mmengine does
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_3.pth'))
    with pytest.raises(
        FileNotFoundError, match=re.escape(f"names '{tmp_path}/epoch_3.pth', which does not exist")
    ):
        check_resume(cfg)
    (tmp_path / 'epoch_3.pth').write_bytes(b'x')
    check_resume(cfg)
    cfg.load_from = str(tmp_path / 'epoch_9.pth')
    with pytest.raises(FileNotFoundError, match="--resume: checkpoint '.*epoch_9.pth' does not"):
        check_resume(cfg)


# --- the tools run the checks (in-process: the same code path as the command line) ---------


def run_tool(monkeypatch, tool: str, *args: str) -> None:
    """The tool's ``main`` with these arguments; its refusal raised, not printed (the printing
    is tests/test_tools/test_errors.py's)."""
    monkeypatch.setattr(sys, 'argv', [tool, *args])
    runpy.run_path(str(REPO_TOOLS / tool), run_name='tool')['main']()


def test_train_refuses_a_typo_and_allow_new_keys_lets_it_through(monkeypatch, tmp_path):
    args = [
        str(DEMO_MGD),
        '--work-dir',
        str(tmp_path),
        '--cfg-options',
        *[f'{k}={v}' for k, v in data_options(tmp_path / 'none').items()],
        'model.teacher_ckp=teacher.pth',
    ]
    with pytest.raises(ValueError, match="did you mean 'model.teacher_ckpt'"):
        run_tool(monkeypatch, 'train.py', *args)
    # with the flag the key passes; the data check then stops the run before the Runner
    with pytest.raises(FileNotFoundError, match='the config names data that is not there'):
        run_tool(monkeypatch, 'train.py', *args, '--allow-new-keys')
    assert not list(tmp_path.iterdir())  # nothing was built or written


def test_test_tool_checks_the_test_data(monkeypatch, tmp_path):
    args = [
        str(DEMO_MGD),
        str(tmp_path / 'ckpt.pth'),
        '--work-dir',
        str(tmp_path),
        '--cfg-options',
        *[f'{k}={v}' for k, v in data_options(tmp_path / 'none').items()],
    ]
    with pytest.raises(FileNotFoundError, match='test_dataloader.dataset.ann_file'):
        run_tool(monkeypatch, 'test.py', *args)


def test_training_without_teacher_checkpoint_is_refused():
    from mmengine.config import Config

    from mgd.utils.preflight import check_teacher_ckpt

    cfg = Config(dict(model=dict(type='mmrazor.MGDDistill', teacher=dict(), teacher_ckpt=None)))
    with pytest.raises(ValueError, match=r'model\.teacher_ckpt is not set.*--cfg-options'):
        check_teacher_ckpt(cfg)
    cfg.model.teacher_ckpt = 'teacher.pth'
    check_teacher_ckpt(cfg)  # set: fine
    check_teacher_ckpt(Config(dict(model=dict(type='RetinaNet'))))  # no teacher: fine
    cfg.model.teacher_ckpt = None
    cfg.resume = True
    check_teacher_ckpt(cfg)  # the resumed checkpoint holds the teacher


def test_empty_or_corrupt_images_are_named_before_training(data):
    (data / 'images' / 'train_0001.jpg').write_bytes(b'')
    (data / 'images' / 'train_0003.jpg').write_bytes(b'<html>not found</html>')
    (data / 'images' / 'val_0002.jpg').unlink()
    with pytest.raises(FileNotFoundError) as info:
        check_data(config(DEMO_MGD, data), 'train')
    message = str(info.value)
    assert 'train_dataloader.dataset: 2 of the 8 images that' in message
    assert f"'{data}/images/train_0001.jpg' is empty (0 bytes)" in message
    assert f"'{data}/images/train_0003.jpg' is not a readable image (UnidentifiedImageError)" in (
        message
    )
    assert 'val_dataloader.dataset: 1 of the 4 images' in message
    assert f"'{data}/images/val_0002.jpg' does not exist" in message


def test_unwritable_work_dir_names_the_flag(tmp_path):
    from mgd.utils.run_checks import check_work_dir

    blocker = tmp_path / 'file'
    blocker.write_text('')
    with pytest.raises(PermissionError) as info:
        check_work_dir(Config(dict(work_dir=str(blocker / 'run'))))
    assert f"--work-dir '{blocker}/run' cannot be created or written" in str(info.value)
    assert 'pass a folder you can write with --work-dir DIR' in str(info.value)
    check_work_dir(Config(dict(work_dir=str(tmp_path / 'new' / 'run'))))
    assert (tmp_path / 'new' / 'run').is_dir()


def test_an_unreachable_checkpoint_url_is_named_with_its_key(monkeypatch, tmp_path):
    """Offline, ``load_from`` and ``Pretrained`` URLs stop the run before anything is built,
    naming the key and the flag that passes a local file; a cached file is not downloaded."""
    from mgd.utils.run_checks import check_downloads

    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    backbone = dict(init_cfg=dict(type='Pretrained', checkpoint='https://127.0.0.1:9/b.pth'))
    cfg = Config(
        dict(load_from='http://127.0.0.1:9/zoo/r50.pth', model=dict(backbone=backbone))
    )  # port 9 (discard): nothing listens, the connection is refused at once
    with pytest.raises(
        ValueError,
        match=r"load_from 'http://127.0.0.1:9/zoo/r50.pth' cannot be downloaded \(.*\)\. "
        r'Without network access, .* --cfg-options load_from=/path/to/r50.pth$',
    ):
        check_downloads(cfg, timeout=5)
    cache = tmp_path / 'torch' / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    (cache / 'r50.pth').write_bytes(b'')  # in torch's cache: the next URL is the problem
    with pytest.raises(
        ValueError,
        match=r"^model.backbone.init_cfg.checkpoint 'https://127.0.0.1:9/b.pth' cannot be "
        r'downloaded .* --cfg-options model.backbone.init_cfg.checkpoint=/path/to/b.pth$',
    ):
        check_downloads(cfg, timeout=5)
    (tmp_path / 'torch' / 'checkpoints').mkdir()
    (tmp_path / 'torch' / 'checkpoints' / 'b.pth').write_bytes(b'')  # mmengine's cache
    check_downloads(cfg, timeout=5)
    check_downloads(Config(dict(load_from='/local/file.pth', model=dict())))  # not a URL


def test_a_work_dir_in_use_is_refused_and_a_killed_run_leaves_no_lock(tmp_path):
    """Two training runs in one work dir would overwrite each other's checkpoints: the second
    is refused, naming the first; the lock dies with its process, however it ends."""
    import os
    import signal
    import subprocess
    import time

    from mgd.utils.run_checks import LOCK_FILE, _held_locks, lock_work_dir

    cfg = Config(dict(work_dir=str(tmp_path)))
    holder = subprocess.Popen(
        [sys.executable, '-c',
         'import sys, time; from mmengine.config import Config; '
         'from mgd.utils.run_checks import lock_work_dir; '
         f'lock_work_dir(Config(dict(work_dir={str(tmp_path)!r}))); print("locked", flush=True); '
         'time.sleep(60)'],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == 'locked'
        with pytest.raises(PermissionError, match=rf'is in use by another training run \(pid '
                           rf'{holder.pid} on .*\).*pass another --work-dir'):  # fmt: skip
            lock_work_dir(cfg)
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # no clean-up runs
        holder.wait()
    time.sleep(0.1)
    lock_work_dir(cfg)  # free again
    lock_work_dir(cfg)  # and this process may take it twice
    assert (tmp_path / LOCK_FILE).read_text() == f'pid {os.getpid()} on {os.uname().nodename}'
    _held_locks.pop(os.path.realpath(tmp_path / LOCK_FILE)).close()


def test_resume_with_changed_optimizer_or_loss_settings_is_refused(tmp_path):
    """On --resume the optimizer state would override a new learning rate, and a new loss
    weight would mix two runs: both are named (old -> new) and refused unless allowed."""
    import torch

    from mgd.utils.run_checks import check_resume_settings

    trained = Config.fromfile(str(DEMO_MGD))
    path = tmp_path / 'epoch_3.pth'
    torch.save({'meta': {'cfg': trained.pretty_text, 'epoch': 3}, 'state_dict': {}}, path)
    cfg = Config.fromfile(str(DEMO_MGD))
    cfg.merge_from_dict(dict(resume=True, load_from=str(path), work_dir=str(tmp_path)))
    check_resume_settings(cfg)  # the same settings
    lr = trained.optim_wrapper.optimizer.lr
    cfg.merge_from_dict(
        {
            'optim_wrapper.optimizer.lr': 0.5,
            'model.distiller.distill_losses.loss_mgd_neck0.alpha_mgd': 1e-3,
            'train_cfg.max_epochs': 48,  # more epochs: what resuming is for, not refused
        }
    )
    with pytest.raises(ValueError) as info:
        check_resume_settings(cfg)
    message = str(info.value)
    assert message.startswith(f'--resume from {str(path)!r} with other optimizer, schedule or loss')
    assert f'optim_wrapper.optimizer.lr: {lr!r} -> 0.5' in message
    assert 'model.distiller.distill_losses.loss_mgd_neck0.alpha_mgd: 2e-05 -> 0.001' in message
    assert 'max_epochs' not in message and message.count(' -> ') == 2
    assert 'pass --allow-changes to resume anyway' in message
    check_resume_settings(cfg, allow_changes=True)
