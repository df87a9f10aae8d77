"""``tools/demo.py --data PATH`` as a user would run it on a VOC folder that is not NEU-DET:
the synthetic board set (320x240 px, several small boxes per image, its own train/test split,
no val list), then its errors, which stop before anything is trained."""

import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
from mmengine.config import Config
from utils import REPO
from utils import run_tool as run

from mgd.datasets.converters.synthetic_boards import BOARD_CLASSES, make_boards


@pytest.fixture(scope='module')
def boards(tmp_path_factory):
    root = tmp_path_factory.mktemp('boards') / 'boards_voc'
    make_boards(str(root), num_images=24)  # 18 train (4 of them carved into val), 6 test
    return root


@pytest.fixture(scope='module')
def demo(boards, tmp_path_factory):
    """One quick run: teacher, baseline and MGD, 1 epoch, one seed, at 160 px."""
    base = tmp_path_factory.mktemp('own')
    work_dir, data_root = str(base / 'work'), str(base / 'data')
    args = ['--data', str(boards), '--quick', '--seeds', '1', '--rows', 'baseline', 'mgd']
    args += ['--image-size', '160', '--work-dir', work_dir, '--data-root', data_root]
    return work_dir, data_root, run(sys.executable, 'tools/demo.py', *args)


def test_says_what_it_found_and_chose(demo):
    _, data_root, out = demo
    assert f'a VOC folder, converted into {data_root}' in out
    assert "classes (the boxes' <name>s, alphabetically; --classes sets them): " in out
    assert str(sorted(BOARD_CLASSES)) in out
    assert 'split: ImageSets/Main/{train,test}.txt; val carved from the training images' in out
    assert re.search(
        r'training set: 14 images, \d+ boxes \([\d.]+ per image\); images 320x240', out
    )
    assert 'input size 160 px (--image-size)' in out
    assert re.search(r'anchors: aspect ratios \(h/w\) \[[\d.]+, [\d.]+, [\d.]+\] ', out)
    assert re.search(r'octave_base_scale [\d.]+, so the smallest anchor is \d+ px', out)


def test_the_adapted_configs_are_written_and_used(demo):
    work_dir, data_root, out = demo
    configs = osp.join(work_dir, 'configs')
    assert '{teacher,student,mgd,mgd_kd}.py' in out
    mgd = Config.fromfile(osp.join(configs, 'mgd.py'))
    assert mgd.model.teacher.cfg_path == osp.join(configs, 'teacher.py')
    assert mgd.model.architecture.bbox_head.num_classes == 3
    dataset = mgd.train_dataloader.dataset
    assert dataset.metainfo.classes == tuple(sorted(BOARD_CLASSES))
    assert dataset.data_root == data_root + '/'
    with open(osp.join(work_dir, 'train_mgd_seed0.log')) as f:
        log = f.read()
    assert re.search(r'distill\.loss_mgd_neck4: ', log)
    # the teacher's features were stored, once per training image (1 epoch: nothing read yet)
    assert 'epoch 1: teacher cache: 0 images read, 14 computed' in log
    (folder,) = os.listdir(osp.join(work_dir, 'teacher_cache'))
    stored = glob.glob(osp.join(work_dir, 'teacher_cache', folder, '*', '*.pt'))
    assert len(stored) == 14


def test_prints_the_table_per_class_and_the_verdict(demo):
    work_dir, _, out = demo
    rows = re.findall(r'^\| (\w+) \| 1 \| [\d.]+ M \|', out, re.M)
    assert rows == ['teacher', 'baseline', 'mgd'] * 2  # val and test
    assert '| model | seeds | crack | hole | stain |' in out
    assert re.search(r'^teacher - baseline: [+-][\d.]+ mAP \(test\)', out, re.M)
    assert re.search(r'^verdict \(test\): mgd - baseline [+-][\d.]+ mAP, one seed', out, re.M)
    with open(osp.join(work_dir, 'results.json')) as f:
        assert set(json.load(f)['runs']) == {'teacher', 'baseline_seed0', 'mgd_seed0'}


def fails(*args):
    result = subprocess.run(
        [sys.executable, 'tools/demo.py', *args], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode != 0
    return result.stderr


def test_errors_stop_before_training(boards, tmp_path):
    work = str(tmp_path / 'work')
    err = fails('--data', str(boards), '--classes', 'hole', '--work-dir', work)
    assert "unknown class 'crack'" in err and "unknown class 'stain'" in err
    assert err.rstrip().endswith('nothing was trained.')
    assert not osp.exists(osp.join(work, 'teacher'))
    err = fails('--data', str(boards), '--rows', 'mgd', 'kd', '--work-dir', work)
    assert '--rows: unknown kd' in err
    assert 'baseline is needed' in fails('--data', str(boards), '--rows', 'mgd', '--work-dir', work)
    assert '--classes needs --data PATH' in fails('--classes', 'a')
    assert '--seeds must be at least 1, got 0' in fails('--seeds', '0')
    assert '--no-teacher-cache: the synthetic demo runs its teacher on every batch' in fails(
        '--no-teacher-cache'
    )
    err = fails('--data', str(tmp_path / 'nothing'), '--work-dir', work)
    assert 'has no ANNOTATIONS/ (or Annotations/) folder' in err or 'no such folder' in err
