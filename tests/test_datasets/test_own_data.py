"""Your own data, as the README tells a user: a VOC folder that is not NEU-DET (other class
names, colour images of another size) → ``voc_to_coco.py --classes`` → the three configs of
``configs/own_data/`` copied and their three data lines edited → teacher, then the MGD student
(``tools/train.py``) → ``tools/test.py``. Few iterations, random init (no downloads)."""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw
from test_neu_det_converter import voc_xml
from tool_run import run_tool

REPO = Path(__file__).resolve().parents[2]
CLASSES = ('dent', 'rust', 'scratch')
COLOURS = {'dent': (200, 40, 40), 'rust': (40, 200, 40), 'scratch': (40, 40, 200)}
# random init, 2 iterations of 4 images, no validation (an untrained model predicts nothing)
SHORT = [
    'load_from=None',
    'train_cfg.max_epochs=1',
    'train_cfg.val_begin=2',
    'train_dataloader.batch_size=4',
    'train_dataloader.dataset.indices=8',
]


@pytest.fixture(scope='module')
def user(tmp_path_factory) -> Path:
    """A VOC folder with 10 images per class, converted, and the own-data configs copied with
    the data lines edited as the README says."""
    base = tmp_path_factory.mktemp('own_data')
    (base / 'VOC' / 'Annotations').mkdir(parents=True)
    (base / 'VOC' / 'JPEGImages').mkdir()
    for i in range(30):
        name = CLASSES[i % 3]
        image = Image.new('RGB', (120, 90), (90, 90, 90))
        box = (10 + i, 10 + i // 2, 60 + i, 50 + i // 2)
        ImageDraw.Draw(image).rectangle(box, fill=COLOURS[name])
        image.save(base / 'VOC' / 'JPEGImages' / f'part_{i:03d}.jpg')
        xml = voc_xml(f'part_{i:03d}.jpg', [(name, *box)], size=(120, 90))
        (base / 'VOC' / 'Annotations' / f'part_{i:03d}.xml').write_text(xml)
    run_tool('tools/dataset_converters/voc_to_coco.py', str(base / 'VOC'), str(base / 'data'),
        '--classes', *CLASSES)  # fmt: skip
    shutil.copytree(REPO / 'configs', base / 'configs')
    student = base / 'configs' / 'own_data' / 'retinanet_r50_fpn_36e_own_data.py'
    text = student.read_text()
    for key, value in (('data_root', f"'{base / 'data'}/'"), ('classes', repr(CLASSES)),
                       ('image_size', '(128, 96)')):  # fmt: skip
        text, count = re.subn(rf'^{key} = .*$', f'{key} = {value}', text, flags=re.M)
        assert count == 1, f'the README says to edit the line `{key} = ...`'
    student.write_text(text)
    return base


def test_teacher_then_mgd_student_train_and_test(user):
    configs = user / 'configs' / 'own_data'
    teacher_dir, mgd_dir = user / 'work' / 'teacher', user / 'work' / 'mgd'
    run_tool('tools/train.py', str(configs / 'retinanet_r101_fpn_36e_own_data.py'),
        '--work-dir', str(teacher_dir), '--cfg-options', *SHORT)  # fmt: skip
    teacher_ckpt = teacher_dir / 'epoch_1.pth'
    run_tool('tools/train.py', str(configs / 'mgd_fpn_retina_r101_retina_r50_36e_own_data.py'),
        '--work-dir', str(mgd_dir), '--cfg-options', *SHORT,
        f'model.teacher_ckpt={teacher_ckpt}', 'model.architecture.init_cfg=None')  # fmt: skip
    log = next(mgd_dir.glob('*/*.log')).read_text()
    assert re.search(r'Inheriting strategy: copied \d+ tensors', log)
    for level in range(5):
        assert f'distill.loss_mgd_neck{level}' in log

    state = torch.load(mgd_dir / 'epoch_1.pth', map_location='cpu', weights_only=True)
    cls_weight = state['state_dict']['architecture.bbox_head.retina_cls.weight']
    assert cls_weight.shape[0] == 9 * len(CLASSES)  # 9 anchors x the user's 3 classes

    out = run_tool('tools/test.py', str(configs / 'mgd_fpn_retina_r101_retina_r50_36e_own_data.py'),
              str(mgd_dir / 'epoch_1.pth'), '--work-dir', str(user / 'work' / 'test'),
              '--cfg-options', 'model.architecture.init_cfg=None',
              'model.architecture.test_cfg.score_thr=0',
              'test_evaluator.classwise=True').stdout  # fmt: skip
    assert re.search(r'^coco/bbox_mAP: [\d.]+$', out, re.M)
    metrics = json.loads((user / 'work' / 'test' / 'test_metrics.json').read_text())
    assert 0 <= metrics['coco/bbox_mAP'] <= 1
    assert all(f'coco/{name}_precision' in metrics for name in CLASSES)  # the user's names


def test_classes_that_do_not_match_the_annotations_are_named_before_training(user):
    configs = user / 'configs' / 'own_data'
    result = run_tool('tools/train.py', str(configs / 'retinanet_r50_fpn_36e_own_data.py'),
                 '--work-dir', str(user / 'work' / 'wrong'), '--cfg-options', *SHORT,
                 "train_dataloader.dataset.metainfo.classes=['dent','Rust','scratch']",
                 check=False)  # fmt: skip
    assert result.returncode != 0
    train_file = f"{user / 'data'}/annotations/instances_train.json"
    assert (
        f"the classes ['Rust'] are not categories of {train_file!r}, whose categories are "
        "['dent', 'rust', 'scratch']"
    ) in result.stderr
    assert not list((user / 'work' / 'wrong').glob('**/*.pth'))
