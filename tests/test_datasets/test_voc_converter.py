"""VOC -> COCO converter on any VOC folder (tools/dataset_converters/voc_to_coco.py), on a
hand-made Pascal-VOC-shaped folder in tmp_path: the class list, the split by dominant label,
difficult boxes, and every unknown class reported at once."""

import json
import os.path as osp
import shutil
import subprocess
import sys
from collections import Counter

import pytest
from PIL import Image
from test_neu_det_converter import make_neu_det, read_cocos, voc_xml

from mgd.datasets.converters.voc import NO_BOXES, UnknownClassesError
from mgd.datasets.converters.voc_convert import SPLITS, convert_voc, split_counts

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO, 'tools', 'dataset_converters')
# stem -> boxes (name, xmin, ymin, xmax, ymax[, difficult]); images are 40x30
IMAGES = {
    'img_1': [('dog', 1, 1, 10, 10), ('dog', 5, 5, 20, 20), ('cat', 2, 2, 8, 8)],
    'img_2': [('dog', 3, 3, 30, 25)],
    'img_3': [('cat', 1, 1, 5, 5), ('dog', 6, 6, 12, 12)],  # a tie: the first in --classes
    'img_4': [('dog', 1, 1, 40, 30)],
    'img_5': [('cat', 2, 3, 10, 12)],
    'img_6': [('cat', 1, 1, 9, 9), ('cat', 2, 2, 9, 9), ('dog', 1, 1, 4, 4)],
    'img_7': [('cat', 4, 4, 20, 20), ('cat', 21, 5, 35, 25, 1)],  # the second is difficult
    'img_8': [],
    'img_9': [],  # a PNG, and its XML has no <filename>
    'img_10': [('dog', 10, 10, 39, 29)],
}
DOG_FIRST = {'img_1': 'dog', 'img_2': 'dog', 'img_3': 'dog', 'img_4': 'dog', 'img_10': 'dog'}
DOG_FIRST |= {'img_5': 'cat', 'img_6': 'cat', 'img_7': 'cat', 'img_8': NO_BOXES, 'img_9': NO_BOXES}


def xml_with_difficult(filename, boxes) -> str:
    text = voc_xml(filename, [box[:5] for box in boxes], size=(40, 30))
    for k, box in enumerate(boxes):  # mark the k-th <object> difficult
        if len(box) > 5 and box[5]:
            head, *objects = text.split('<object>')
            objects[k] = objects[k].replace('<difficult>0', '<difficult>1')
            text = '<object>'.join([head, *objects])
    return text


def make_voc(root, images=IMAGES, folders=('Annotations', 'JPEGImages')) -> None:
    (root / folders[0]).mkdir(parents=True)
    (root / folders[1]).mkdir()
    for i, (stem, boxes) in enumerate(images.items()):
        suffix = '.png' if stem == 'img_9' else '.jpg'
        Image.new('RGB', (40, 30), (10 * i, 0, 0)).save(root / folders[1] / f'{stem}{suffix}')
        filename = None if stem == 'img_9' else f'{stem}{suffix}'
        (root / folders[0] / f'{stem}.xml').write_text(xml_with_difficult(filename, boxes))


@pytest.fixture
def voc(tmp_path):
    make_voc(tmp_path / 'VOC')
    return tmp_path / 'VOC'


def run(tool, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, osp.join(TOOLS, tool), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )


def dominant(coco) -> dict[str, str]:
    """file stem -> the most frequent category name of its boxes (ties: the lowest id)."""
    names = {c['id']: c['name'] for c in coco['categories']}
    labels = {img['id']: Counter() for img in coco['images']}
    for ann in coco['annotations']:
        labels[ann['image_id']][ann['category_id']] += 1
    return {
        osp.splitext(img['file_name'])[0]: (
            names[min(c, key=lambda k: (-c[k], k))] if (c := labels[img['id']]) else NO_BOXES
        )
        for img in coco['images']
    }


def test_tool_converts_any_voc_folder_with_a_class_list(voc, tmp_path):
    out = tmp_path / 'coco'
    result = run('voc_to_coco.py', voc, out, '--classes', 'dog', 'cat')
    assert result.returncode == 0, result.stderr
    assert 'difficult boxes: 1 (ignored: iscrowd=1)' in result.stdout
    assert 'images by their most frequent box label' in result.stdout
    assert '| (no boxes)' in result.stdout
    cocos = read_cocos(out)
    for coco in cocos.values():  # ids 1..K in the order of --classes, supercategory 'none'
        assert coco['categories'] == [
            dict(id=1, name='dog', supercategory='none'),
            dict(id=2, name='cat', supercategory='none'),
        ]
    images = {img['file_name']: img for c in cocos.values() for img in c['images']}
    # all ten, the PNG without <filename> too; ids follow the name, numbers as numbers
    assert sorted(images, key=lambda f: images[f]['id']) == [
        f'img_{i}.png' if i == 9 else f'img_{i}.jpg' for i in range(1, 11)
    ]
    assert [images[f]['id'] for f in sorted(images, key=lambda f: images[f]['id'])] == list(
        range(1, 11)
    )
    anns = {}
    for coco in cocos.values():
        for ann in coco['annotations']:
            anns.setdefault(ann['image_id'], []).append(ann)
    # VOC 1-based inclusive corners -> [xmin - 1, ymin - 1, w, h]; cat is id 2
    assert [(a['bbox'], a['category_id']) for a in anns[images['img_5.jpg']['id']]] == [
        ([1, 2, 9, 10], 2)
    ]
    assert [a['bbox'] for a in anns[images['img_4.jpg']['id']]] == [[0, 0, 40, 30]]
    # the one difficult box is an ignored region, the others are ordinary boxes
    crowd = [a for c in cocos.values() for a in c['annotations'] if a['iscrowd']]
    assert [(a['image_id'], a['bbox']) for a in crowd] == [
        (images['img_7.jpg']['id'], [20, 4, 15, 21])
    ]
    assert sum(len(c['annotations']) for c in cocos.values()) == 14
    assert all(osp.samefile(out / 'images' / f, voc / 'JPEGImages' / f) for f in images)


def test_keep_difficult_changes_only_iscrowd(voc, tmp_path):
    assert run('voc_to_coco.py', voc, tmp_path / 'a', '--classes', 'dog', 'cat').returncode == 0
    result = run(
        'voc_to_coco.py', voc, tmp_path / 'b', '--classes', 'dog', 'cat', '--keep-difficult'
    )
    assert result.returncode == 0, result.stderr
    assert 'difficult boxes: 1 (kept as ordinary boxes)' in result.stdout
    ignored, kept = read_cocos(tmp_path / 'a'), read_cocos(tmp_path / 'b')
    assert all(a['iscrowd'] == 0 for c in kept.values() for a in c['annotations'])
    for coco in ignored.values():
        for ann in coco['annotations']:
            ann['iscrowd'] = 0
    assert ignored == kept  # the same split, ids and boxes


def test_split_is_stratified_by_dominant_label(voc, tmp_path):
    for classes in (('dog', 'cat'), ('cat', 'dog')):
        expected = dict(DOG_FIRST)
        if classes[0] == 'cat':
            expected['img_3'] = 'cat'  # the tie goes the other way
        groups = Counter(expected.values())
        splits_seen = set()
        for seed in range(6):
            result = convert_voc(
                str(voc), str(tmp_path / 'out'), classes, seed=seed, progress=False
            )
            assert {osp.splitext(f)[0]: g for f, g in result.groups.items()} == expected
            got = {s: Counter(dominant(result.cocos[s]).values()) for s in SPLITS}
            for group, n in groups.items():
                assert tuple(got[s][group] for s in SPLITS) == split_counts(n), (classes, seed)
            splits_seen.add(tuple(img['file_name'] for img in result.cocos['test']['images']))
        assert len(splits_seen) > 1  # the seed matters
    # dog 5 images -> 4/1/0, cat 3 -> 2/1/0, no boxes 2 -> 1/0/1
    assert (split_counts(5), split_counts(3), split_counts(2)) == ((4, 1, 0), (2, 1, 0), (1, 0, 1))


def test_classes_file_and_folder_names_in_any_case(tmp_path):
    root = tmp_path / 'voc'
    make_voc(root, folders=('ANNOTATIONS', 'jpegimages'))
    classes = tmp_path / 'classes.txt'
    classes.write_text('# my data set\ndog\n\ncat  # pets\n')
    assert run('voc_to_coco.py', root, tmp_path / 'a', '--classes-file', classes).returncode == 0
    assert run('voc_to_coco.py', root, tmp_path / 'b', '--classes', 'dog', 'cat').returncode == 0
    for split in SPLITS:
        name = f'annotations/instances_{split}.json'
        assert (tmp_path / 'a' / name).read_bytes() == (tmp_path / 'b' / name).read_bytes()
    shutil.rmtree(root / 'jpegimages')
    result = run('voc_to_coco.py', root, tmp_path / 'c', '--classes', 'dog', 'cat')
    assert result.returncode != 0 and 'has no IMAGES/ (or JPEGImages/) folder' in result.stderr


@pytest.fixture
def voc_unknown(tmp_path):
    images = dict(IMAGES)
    images['img_2'] = [*IMAGES['img_2'], ('bird', 1, 1, 5, 5)]
    images['img_4'] = [('bird', 1, 1, 5, 5), *IMAGES['img_4'], ('bird', 2, 2, 6, 6)]
    images['img_6'] = [*IMAGES['img_6'], ('fish', 1, 1, 3, 3)]
    make_voc(tmp_path / 'VOC', images)
    return tmp_path / 'VOC'


def test_unknown_classes_are_all_listed_and_nothing_is_written(voc_unknown, tmp_path):
    out = tmp_path / 'coco'
    result = run('voc_to_coco.py', voc_unknown, out, '--classes', 'dog', 'cat')
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    ann_dir = voc_unknown / 'Annotations'
    assert 'unknown classes in the XML files (classes: dog, cat):' in result.stderr
    assert f"{ann_dir / 'img_2.xml'}: unknown class 'bird' (3 boxes in 2 files)" in result.stderr
    assert f"{ann_dir / 'img_6.xml'}: unknown class 'fish' (1 box in 1 file)" in result.stderr
    assert 'including these: --classes dog cat bird fish' in result.stderr
    assert 'nothing was written' in result.stderr
    assert not out.exists()
    with pytest.raises(UnknownClassesError) as error:
        convert_voc(str(voc_unknown), str(out), ('dog', 'cat'), progress=False)
    assert error.value.unknown == {
        'bird': (3, [str(ann_dir / 'img_2.xml'), str(ann_dir / 'img_4.xml')]),
        'fish': (1, [str(ann_dir / 'img_6.xml')]),
    }
    assert not out.exists()
    # with a classes file, the hint says to add them there; with them all, it converts
    classes = tmp_path / 'classes.txt'
    classes.write_text('dog\ncat\n')
    result = run('voc_to_coco.py', voc_unknown, out, '--classes-file', classes)
    assert f'hint: add them to {classes}, or pass --classes' in result.stderr
    result = run('voc_to_coco.py', voc_unknown, out, '--classes', 'dog', 'cat', 'bird', 'fish')
    assert result.returncode == 0, result.stderr
    categories = read_cocos(out)['train']['categories']
    assert [(c['id'], c['name']) for c in categories] == [
        (1, 'dog'),
        (2, 'cat'),
        (3, 'bird'),
        (4, 'fish'),
    ]


def test_neu_det_preset_points_to_the_class_list(tmp_path):
    root = tmp_path / 'NEU-DET'
    make_neu_det(root)
    (root / 'ANNOTATIONS' / 'inclusion_2.xml').write_text(
        voc_xml('inclusion_2.jpg', [('rust', 1, 1, 9, 9), ('inclusion', 1, 1, 9, 9)])
    )
    (root / 'ANNOTATIONS' / 'patches_3.xml').write_text(
        voc_xml('patches_3.jpg', [('Patches', 1, 1, 9, 9)])
    )
    result = run('neu_det_to_coco.py', root, tmp_path / 'coco')
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert "inclusion_2.xml: unknown class 'rust' (1 box in 1 file)" in result.stderr
    assert "patches_3.xml: unknown class 'Patches' (1 box in 1 file)" in result.stderr
    assert (
        'voc_to_coco.py ROOT OUT --classes crazing inclusion patches pitted_surface '
        'rolled-in_scale scratches Patches rust'
    ) in result.stderr
    assert not (tmp_path / 'coco').exists()


def test_preset_option_gives_the_neu_det_tool_output(tmp_path):
    root = tmp_path / 'NEU-DET'
    make_neu_det(root)
    assert run('neu_det_to_coco.py', root, tmp_path / 'a', '--seed', '3').returncode == 0
    result = run('voc_to_coco.py', root, tmp_path / 'b', '--preset', 'neu_det', '--seed', '3')
    assert result.returncode == 0, result.stderr
    for split in SPLITS:
        name = f'annotations/instances_{split}.json'
        assert (tmp_path / 'a' / name).read_bytes() == (tmp_path / 'b' / name).read_bytes()
    coco = json.loads((tmp_path / 'a' / 'annotations' / 'instances_val.json').read_text())
    assert {c['supercategory'] for c in coco['categories']} == {'defect'}


def test_bad_class_lists_are_refused(voc, tmp_path):
    out = tmp_path / 'coco'
    result = run('voc_to_coco.py', voc, out, '--classes', 'dog', 'cat', 'dog')
    assert result.returncode != 0 and "--classes repeats 'dog'" in result.stderr
    empty = tmp_path / 'empty.txt'
    empty.write_text('# nothing\n\n')
    result = run('voc_to_coco.py', voc, out, '--classes-file', empty)
    assert result.returncode != 0 and 'gives no class names' in result.stderr
    result = run('voc_to_coco.py', voc, out)  # no class list at all
    assert result.returncode == 2 and '--classes' in result.stderr
    assert not out.exists()
    with pytest.raises(ValueError, match='repeats dog'):
        convert_voc(str(voc), str(out), ('dog', 'dog'), progress=False)


def test_voc_tool_starts_without_the_model_stack():
    tool = 'tools/dataset_converters/voc_to_coco.py'
    code = (
        f'import runpy, sys; sys.argv = [{tool!r}, "--help"]\n'
        'try:\n'
        f'    runpy.run_path({tool!r}, run_name="__main__")\n'
        'except SystemExit:\n'
        '    pass\n'
        'print(" ".join(sorted(sys.modules)))'
    )
    out = subprocess.run(
        [sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert '--classes-file' in out.stdout
    assert not {'torch', 'mmdet', 'mmrazor', 'mmpretrain'} & set(out.stdout.split())
