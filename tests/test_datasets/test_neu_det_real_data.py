"""The NEU-DET converter on the real data, run as a user runs it; the expected numbers are the
facts measured in shared/data/NEU-DET/README.md.

The data is looked for in ``shared/`` beside the clone (``<repo>/../shared/data/NEU-DET``), as
CI lays it out; where it is absent they are skipped with one line saying so (shown by `make
test`), unless ``MGD_REQUIRE_SHARED_DATA=1`` (CI: .ci/run) makes that a failure.
"""

import copy
import hashlib
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from tool_run import run_tool

from mgd.datasets.metainfo import NEU_DET_CLASSES

REPO = Path(__file__).resolve().parents[2]
NEU_DET = REPO.parent / 'shared' / 'data' / 'NEU-DET'
TOOL = REPO / 'tools' / 'dataset_converters' / 'neu_det_to_coco.py'
SPLITS = ('train', 'val', 'test')
BOXES_PER_CLASS = {
    'crazing': 689,
    'inclusion': 1011,
    'patches': 881,
    'pitted_surface': 432,
    'rolled-in_scale': 628,
    'scratches': 548,
}
# sha256 of the files written with --keep-difficult (seed 0): the bytes the converter wrote
# before difficult boxes became iscrowd=1. A change means users' splits or boxes change.
KEEP_DIFFICULT_SHA256 = {
    'train': 'b63760e640c4768e6ce076bc3f26e058430361871f827be8af0a35d30f1debe3',
    'val': 'fbe3a8995c41ba90045f74311ebe00c7cdc1aa05a275fb0380a912fb9cac1111',
    'test': '9ae71d6c93c0397d2118d555c9fc53ad680f4a07b017df6a05d64206b9d334ae',
}


@pytest.fixture(scope='module')
def neu_det_root() -> Path:
    if not (NEU_DET / 'ANNOTATIONS').is_dir():
        where = f'the real NEU-DET is expected at {NEU_DET} (ANNOTATIONS/ and IMAGES/)'
        if os.environ.get('MGD_REQUIRE_SHARED_DATA') == '1':  # CI: its absence is an error
            pytest.fail(f'{where}: shared/ beside the clone, as CI lays it out')
        pytest.skip(f'{where}: not there, so the real-data tests do not run')
    return NEU_DET


@pytest.fixture(scope='module')
def xml_facts(neu_det_root) -> dict:
    """Per XML stem: its <filename> and its boxes' (name, difficult)."""
    facts = {}
    for path in sorted((neu_det_root / 'ANNOTATIONS').glob('*.xml')):
        root = ET.parse(path).getroot()
        boxes = [
            (o.findtext('name').strip(), o.findtext('difficult').strip() == '1')
            for o in root.iter('object')
        ]
        facts[path.stem] = dict(filename=root.findtext('filename').strip(), boxes=boxes)
    return facts


def convert(root, out, *flags) -> tuple[str, dict]:
    result = subprocess.run(
        [sys.executable, str(TOOL), str(root), str(out), *flags],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    cocos = {}
    for split in SPLITS:
        cocos[split] = json.loads((out / 'annotations' / f'instances_{split}.json').read_text())
    return result.stdout, cocos


@pytest.fixture(scope='module')
def converted(neu_det_root, tmp_path_factory) -> dict:
    """The tool's stdout and COCO dicts, by default and with --keep-difficult."""
    out = tmp_path_factory.mktemp('neu_det_real')
    return {
        'default': convert(neu_det_root, out / 'default'),
        'keep': convert(neu_det_root, out / 'keep', '--keep-difficult'),
        'out': out,
    }


def prefix(file_name: str) -> str:
    return file_name.rsplit('_', 1)[0]


def test_split_is_210_60_30_per_class_and_every_image_is_there(converted, neu_det_root):
    stdout, cocos = converted['default']
    assert [len(cocos[s]['images']) for s in SPLITS] == [1260, 360, 180]
    for split, n in zip(SPLITS, (210, 60, 30)):
        per_class = Counter(prefix(img['file_name']) for img in cocos[split]['images'])
        assert per_class == dict.fromkeys(NEU_DET_CLASSES, n)
    images = [img for s in SPLITS for img in cocos[s]['images']]
    assert sorted(img['id'] for img in images) == list(range(1, 1801))
    assert {img['file_name'] for img in images} == {
        p.name for p in (neu_det_root / 'IMAGES').iterdir()
    }
    assert {(img['width'], img['height']) for img in images} == {(200, 200)}
    out_images = converted['out'] / 'default' / 'images'
    for img in images[::50]:  # links, not copies, to the originals
        path = out_images / img['file_name']
        assert path.is_symlink() and path.samefile(neu_det_root / 'IMAGES' / img['file_name'])
    for split in SPLITS:
        assert [c['name'] for c in cocos[split]['categories']] == list(NEU_DET_CLASSES)
    assert (
        '| total           |     1260/2951 |     360/842 |      180/396 |   1800/4189 |' in stdout
    )


def test_boxes_are_labelled_by_their_name(converted):
    stdout, cocos = converted['default']
    anns = [a for s in SPLITS for a in cocos[s]['annotations']]
    assert len(anns) == 4189 and len({a['id'] for a in anns}) == 4189
    per_class = Counter(NEU_DET_CLASSES[a['category_id'] - 1] for a in anns)
    assert per_class == BOXES_PER_CLASS
    file_names = {img['id']: img['file_name'] for s in SPLITS for img in cocos[s]['images']}
    other = [
        a
        for a in anns
        if NEU_DET_CLASSES[a['category_id'] - 1] != prefix(file_names[a['image_id']])
    ]
    assert len(other) == 188
    # 1-based inclusive corners: the 538 boxes ending at pixel 200 reach the edge, unclipped
    assert (
        sum(a['bbox'][0] + a['bbox'][2] == 200 or a['bbox'][1] + a['bbox'][3] == 200 for a in anns)
        == 538
    )
    assert all(a['bbox'][0] >= 0 and a['bbox'][0] + a['bbox'][2] <= 200 for a in anns)
    assert 'boxes clipped to the image: 0; degenerate boxes dropped: 0' in stdout


def test_file_names_without_extension_are_found(converted, xml_facts):
    without = [stem for stem, f in xml_facts.items() if not f['filename'].endswith('.jpg')]
    assert len(without) == 174
    assert {prefix(stem) for stem in without} == {'pitted_surface', 'patches'}
    _, cocos = converted['default']
    boxes = Counter()
    file_names = {img['id']: img['file_name'] for s in SPLITS for img in cocos[s]['images']}
    for split in SPLITS:
        for ann in cocos[split]['annotations']:
            boxes[file_names[ann['image_id']]] += 1
    for stem in without:
        assert boxes[f'{stem}.jpg'] == len(xml_facts[stem]['boxes']) > 0


def test_difficult_boxes_are_ignored_regions_unless_kept(converted, xml_facts):
    stdout, cocos = converted['default']
    assert 'difficult boxes: 81 (ignored: iscrowd=1)' in stdout
    crowd = Counter()
    file_names = {img['id']: img['file_name'] for s in SPLITS for img in cocos[s]['images']}
    for split in SPLITS:
        for ann in cocos[split]['annotations']:
            crowd[file_names[ann['image_id']]] += ann['iscrowd']
    assert sum(crowd.values()) == 81
    assert +crowd == {
        f'{stem}.jpg': n
        for stem, f in xml_facts.items()
        if (n := sum(difficult for _, difficult in f['boxes']))
    }
    kept_stdout, kept = converted['keep']
    assert 'difficult boxes: 81 (kept as ordinary boxes)' in kept_stdout
    assert all(a['iscrowd'] == 0 for s in SPLITS for a in kept[s]['annotations'])
    cocos = copy.deepcopy(cocos)
    for split in SPLITS:  # the flag changes iscrowd and nothing else
        for ann in cocos[split]['annotations']:
            ann['iscrowd'] = 0
    assert cocos == kept


def test_keep_difficult_output_is_the_bytes_written_before_issue_14(converted):
    folder = converted['out'] / 'keep' / 'annotations'
    got = {
        s: hashlib.sha256((folder / f'instances_{s}.json').read_bytes()).hexdigest() for s in SPLITS
    }
    assert got == KEEP_DIFFICULT_SHA256


def test_a_few_iterations_train_and_test_on_the_real_images(converted, tmp_path):
    """The from-scratch teacher, then the MGD student from it (2 iterations of 8 real images
    each), then tools/test.py on 16 test images, through the configs tools/demo.py runs."""
    root = converted['out'] / 'default'
    data = [f'{s}_dataloader.dataset.data_root={root}/' for s in SPLITS]
    short = [*data, 'train_cfg.max_epochs=1', 'train_cfg.val_begin=2',
             'train_dataloader.dataset.indices=16']  # fmt: skip
    configs = REPO / 'configs' / 'neu_det'
    teacher = configs / 'retinanet_r18-w32_scratch_neu_det.py'
    mgd = configs / 'mgd_fpn_retina_r18-w32_retina_r18-w16_scratch_neu_det.py'

    run_tool('tools/train.py', teacher, '--work-dir', tmp_path / 'teacher', '--cfg-options', *short)
    run_tool('tools/train.py', mgd, '--work-dir', tmp_path / 'mgd', '--cfg-options', *short,
         f'model.teacher_ckpt={tmp_path / "teacher" / "epoch_1.pth"}')  # fmt: skip
    log = next((tmp_path / 'mgd').glob('*/*.log')).read_text()
    assert re.search(r'Epoch\(train\) \[1\]\[2/2\]', log)  # 16 images, batch 8
    assert re.search(r'Inheriting strategy: copied \d+ tensors', log)
    losses = re.findall(r'distill\.loss_mgd_neck0: ([\d.e+-]+)', log)
    assert losses and all(float(v) > 0 for v in losses)
    out = run_tool('tools/test.py', mgd, tmp_path / 'mgd' / 'epoch_1.pth', '--work-dir',
               tmp_path / 'test', '--cfg-options', *data, 'test_dataloader.dataset.indices=16',
               'model.architecture.test_cfg.score_thr=0').stdout  # fmt: skip
    assert re.search(r'^coco/bbox_mAP: [\d.]+$', out, re.M)
    assert re.search(r'^coco/pitted_surface_precision: ', out, re.M)  # NEU-DET's names


def test_classification_split_is_the_detection_split(converted, neu_det_root, tmp_path):
    """neu_det_to_cls.py: labels from the file-name prefix, 210/60/30 per class, and with the
    same seed each image in the split the detection converter put it in."""
    out = tmp_path / 'neu_cls'
    result = run_tool('tools/dataset_converters/neu_det_to_cls.py', neu_det_root, out)
    assert 'train 1260, val 360, test 180' in result.stdout
    _, cocos = converted['default']
    for split, n in zip(SPLITS, (210, 60, 30)):
        lines = [line.split() for line in (out / 'meta' / f'{split}.txt').read_text().splitlines()]
        assert {name for name, _ in lines} == {img['file_name'] for img in cocos[split]['images']}
        assert all(int(label) == NEU_DET_CLASSES.index(prefix(name)) for name, label in lines)
        assert Counter(label for _, label in lines) == {str(c): n for c in range(6)}
    image = out / 'images' / 'scratches_7.jpg'
    assert image.is_symlink() and image.samefile(neu_det_root / 'IMAGES' / 'scratches_7.jpg')
