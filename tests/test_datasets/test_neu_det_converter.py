"""NEU-DET -> COCO converter, on a hand-made NEU-DET-shaped folder built in tmp_path."""

import json
import os
import os.path as osp
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from mgd.datasets.converters.neu_det import NEUDETError, convert, split_counts, summary_table
from mgd.datasets.metainfo import NEU_DET_CLASSES

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'dataset_converters', 'neu_det_to_coco.py')
# images per class in the fixture: 10 -> 7/2/1, 4 -> 3/1/0 (2.8 -> 3, 0.8 -> 1), 7 -> 5/1/1
IMAGES_PER_CLASS = dict(zip(NEU_DET_CLASSES, (10, 4, 7, 10, 4, 7)))


def voc_xml(filename: str | None, boxes: list[tuple], size: tuple | None = (200, 200)) -> str:
    """A NEU-DET style annotation; boxes are (name, xmin, ymin, xmax, ymax)."""
    parts = ['<annotation><folder>cr</folder>']
    if filename is not None:
        parts.append(f'<filename>{filename}</filename>')
    if size is not None:
        parts.append(
            f'<size><width>{size[0]}</width><height>{size[1]}</height>' '<depth>1</depth></size>'
        )
    for name, *coords in boxes:
        xmin, ymin, xmax, ymax = coords
        parts.append(
            f'<object><name>{name}</name><pose>Unspecified</pose><truncated>0'
            f'</truncated><difficult>0</difficult><bndbox><xmin>{xmin}</xmin>'
            f'<ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox>'
            '</object>'
        )
    return ''.join(parts) + '</annotation>'


def make_neu_det(root, upper=True) -> dict:
    """Writes a small NEU-DET-shaped data set; returns the special cases' expected boxes."""
    ann_dir = root / ('ANNOTATIONS' if upper else 'annotations')
    img_dir = root / ('IMAGES' if upper else 'images')
    ann_dir.mkdir(parents=True)
    img_dir.mkdir()
    for c, (name, n) in enumerate(IMAGES_PER_CLASS.items()):
        for i in range(1, n + 1):
            stem = f'{name}_{i}'
            grey = np.full((200, 200), 60 + 20 * c + i, np.uint8)  # NEU-DET JPEGs are 1-channel
            Image.fromarray(grey).save(img_dir / f'{stem}.jpg', quality=90)
            (ann_dir / f'{stem}.xml').write_text(
                voc_xml(f'{stem}.jpg', [(name, 10 + i, 20, 60 + i, 90)])
            )
    # the special cases, all in crazing (class of the file-name prefix)
    (ann_dir / 'crazing_1.xml').write_text(voc_xml('crazing_1', [('crazing', 5, 6, 40, 50)]))
    (ann_dir / 'crazing_2.xml').write_text(
        voc_xml(
            'crazing_2.jpg',
            [
                ('crazing', 150, 160, 230, 199),  # past the right edge: clipped
                ('crazing', 1, 1, 200, 200),  # the whole image
            ],
        )
    )
    (ann_dir / 'crazing_3.xml').write_text(
        voc_xml(
            'crazing_3.jpg',
            [
                ('crazing', 30, 30, 20, 60),  # xmax < xmin: dropped
                ('inclusion', 1, 1, 1, 1),  # a single pixel is a valid 1x1 box
            ],
            size=None,
        )
    )  # no <size>: read from the image
    return {
        'crazing_1.jpg': [([4, 5, 36, 45], 1)],
        'crazing_2.jpg': [([149, 159, 51, 40], 1), ([0, 0, 200, 200], 1)],
        'crazing_3.jpg': [([0, 0, 1, 1], 2)],
    }


@pytest.fixture
def neu_det(tmp_path):
    root = tmp_path / 'NEU-DET'
    expected = make_neu_det(root)
    return root, expected


def read_cocos(out_dir) -> dict:
    cocos = {}
    for split in ('train', 'val', 'test'):
        with open(out_dir / 'annotations' / f'instances_{split}.json') as f:
            cocos[split] = json.load(f)
    return cocos


def run_tool(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, TOOL, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )


def test_tool_converts_as_a_user_runs_it(neu_det, tmp_path):
    root, expected = neu_det
    out = tmp_path / 'coco'
    result = run_tool(root, out, '--seed', '0')
    assert result.returncode == 0, result.stderr
    assert 'total' in result.stdout and 'degenerate boxes dropped: 1' in result.stdout
    assert 'boxes clipped to the image: 1' in result.stdout
    assert 'reading the XML files: 42/42 (' in result.stdout  # progress, as lines
    cocos = read_cocos(out)
    anns = {}
    images = {}
    for coco in cocos.values():
        assert [c['name'] for c in coco['categories']] == list(NEU_DET_CLASSES)
        assert [c['id'] for c in coco['categories']] == [1, 2, 3, 4, 5, 6]
        images.update({img['file_name']: img for img in coco['images']})
        for ann in coco['annotations']:
            anns.setdefault(ann['image_id'], []).append(ann)
    assert len(images) == sum(IMAGES_PER_CLASS.values())
    for file_name, boxes in expected.items():
        img = images[file_name]
        assert (img['width'], img['height']) == (200, 200)
        got = [(a['bbox'], a['category_id']) for a in anns.get(img['id'], [])]
        assert got == boxes
        for a in anns.get(img['id'], []):
            assert a['area'] == a['bbox'][2] * a['bbox'][3] and a['iscrowd'] == 0
    # an ordinary box: VOC 1-based inclusive -> [xmin - 1, ymin - 1, w + 1, h + 1]
    plain = anns[images['patches_4.jpg']['id']]
    assert [a['bbox'] for a in plain] == [[13, 19, 51, 71]] and plain[0]['category_id'] == 3
    # ids are unique across the three files
    all_ids = [a['id'] for c in cocos.values() for a in c['annotations']]
    assert len(set(all_ids)) == len(all_ids)
    # the images are reachable as images/<file_name> and are the originals
    for file_name in images:
        path = out / 'images' / file_name
        assert path.is_symlink() and osp.samefile(path, root / 'IMAGES' / file_name)


def test_split_counts_per_class(neu_det, tmp_path):
    root, _ = neu_det
    Image.new('L', (200, 200)).save(root / 'IMAGES' / 'scratches_99.jpg')  # no XML: left out
    result = convert(str(root), str(tmp_path / 'coco'), seed=0, progress=False)
    per_split = {}
    for split, coco in result.cocos.items():
        per_split[split] = Counter(img['file_name'].rsplit('_', 1)[0] for img in coco['images'])
    for name, n in IMAGES_PER_CLASS.items():
        assert tuple(per_split[s][name] for s in ('train', 'val', 'test')) == split_counts(n)
    assert split_counts(10) == (7, 2, 1) and split_counts(4) == (3, 1, 0)
    assert split_counts(7) == (5, 1, 1)  # 4.9 -> 5, 1.4 -> 1
    assert split_counts(300) == (210, 60, 30) and split_counts(5) == (4, 1, 0)  # 3.5 rounds up
    # the underscores inside 'pitted_surface' and 'rolled-in_scale' are part of the class
    assert sum(per_split[s]['pitted_surface'] for s in per_split) == 10
    assert sum(per_split[s]['rolled-in_scale'] for s in per_split) == 4
    assert result.images_without_xml == [str(root / 'IMAGES' / 'scratches_99.jpg')]
    table = summary_table(result)
    assert 'pitted_surface' in table and '1 images have no XML' in table
    total_row = next(line for line in table.splitlines() if line.startswith('| total'))
    assert [cell.strip() for cell in total_row.split('|')[2:-1]] == ['30/30', '8/8', '4/5', '42/43']


def test_rerun_is_byte_identical_and_seed_changes_split(neu_det, tmp_path):
    root, _ = neu_det
    texts = []
    for out, seed in (('a', 0), ('b', 0), ('c', 1)):
        convert(str(root), str(tmp_path / out), seed=seed, progress=False)
        texts.append(
            [
                (tmp_path / out / 'annotations' / f'instances_{s}.json').read_bytes()
                for s in ('train', 'val', 'test')
            ]
        )
    assert texts[0] == texts[1]
    assert texts[0] != texts[2]
    # a re-run into the same folder (links replaced) is identical too
    convert(str(root), str(tmp_path / 'a'), seed=0, progress=False)
    assert [
        (tmp_path / 'a' / 'annotations' / f'instances_{s}.json').read_bytes()
        for s in ('train', 'val', 'test')
    ] == texts[0]


def test_lower_case_folders_and_copy(tmp_path):
    root = tmp_path / 'neu'
    make_neu_det(root, upper=False)
    out = tmp_path / 'coco'
    convert(str(root), str(out), copy=True, progress=False)
    path = out / 'images' / 'scratches_7.jpg'
    assert path.is_file() and not path.is_symlink()
    # in place: OUT_DIR/images is the input folder, nothing to link
    result = convert(str(root), str(root), progress=False)
    assert sum(len(c['images']) for c in result.cocos.values()) == sum(IMAGES_PER_CLASS.values())
    assert not (root / 'images' / 'crazing_1.jpg').is_symlink()


def assert_nothing_written(out):
    assert not (out / 'annotations').exists() or not os.listdir(out / 'annotations')


def test_malformed_xml_names_the_file_and_writes_nothing(neu_det, tmp_path):
    root, _ = neu_det
    (root / 'ANNOTATIONS' / 'scratches_3.xml').write_text('<annotation><filename>scr')
    out = tmp_path / 'coco'
    result = run_tool(root, out)
    assert result.returncode != 0
    assert 'scratches_3.xml' in result.stderr and 'malformed XML' in result.stderr
    assert 'Traceback' not in result.stderr
    assert_nothing_written(out)


def test_unknown_class_names_the_file(neu_det, tmp_path):
    root, _ = neu_det
    (root / 'ANNOTATIONS' / 'inclusion_2.xml').write_text(
        voc_xml('inclusion_2.jpg', [('rust', 1, 1, 9, 9)])
    )
    with pytest.raises(NEUDETError, match=r"inclusion_2\.xml: unknown class 'rust'"):
        convert(str(root), str(tmp_path / 'coco'), progress=False)
    assert_nothing_written(tmp_path / 'coco')
    # a file-name prefix that is not a class is refused too (it decides the split)
    (root / 'ANNOTATIONS' / 'inclusion_2.xml').unlink()
    (root / 'IMAGES' / 'inclusion_2.jpg').rename(root / 'IMAGES' / 'rust_2.jpg')
    (root / 'ANNOTATIONS' / 'rust_2.xml').write_text(
        voc_xml('rust_2.jpg', [('inclusion', 1, 1, 9, 9)])
    )
    with pytest.raises(NEUDETError, match=r'rust_2\.jpg: the file name does not start'):
        convert(str(root), str(tmp_path / 'coco'), progress=False)


def test_missing_image_names_the_file(neu_det, tmp_path):
    root, _ = neu_det
    (root / 'IMAGES' / 'patches_5.jpg').unlink()
    with pytest.raises(NEUDETError, match=r"patches_5\.xml: its image 'patches_5\.jpg' is not"):
        convert(str(root), str(tmp_path / 'coco'), progress=False)
    assert_nothing_written(tmp_path / 'coco')
    assert not (tmp_path / 'coco' / 'images').exists()


def test_earlier_json_survives_a_failed_run(neu_det, tmp_path):
    root, _ = neu_det
    out = tmp_path / 'coco'
    convert(str(root), str(out), progress=False)
    before = (out / 'annotations' / 'instances_train.json').read_bytes()
    (root / 'ANNOTATIONS' / 'scratches_1.xml').write_text('not xml')
    with pytest.raises(NEUDETError):
        convert(str(root), str(out), seed=1, progress=False)
    assert (out / 'annotations' / 'instances_train.json').read_bytes() == before
    assert sorted(os.listdir(out / 'annotations')) == [
        'instances_test.json',
        'instances_train.json',
        'instances_val.json',
    ]


def test_missing_folder(tmp_path):
    (tmp_path / 'ANNOTATIONS').mkdir()
    with pytest.raises(FileNotFoundError, match='has no IMAGES/'):
        convert(str(tmp_path), str(tmp_path / 'out'), progress=False)
