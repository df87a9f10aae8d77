"""The split that comes with a data set (mgd/datasets/converters/voc_split.py): VOC's
ImageSets/Main lists and --split-file, kept by the converter; val carved from train when the
data has none; images no list names left out and counted."""

import json
import subprocess
import sys

import pytest
from test_voc_converter import IMAGES, REPO, TOOLS, make_voc

from mgd.datasets.converters.voc import VOCError
from mgd.datasets.converters.voc_convert import convert_voc, summary_table
from mgd.datasets.converters.voc_split import (
    carve_val,
    given_split,
    read_image_sets,
    read_split_file,
)

CLASSES = ('dog', 'cat')


def write_lists(root, **lists):
    main = root / 'ImageSets' / 'Main'
    main.mkdir(parents=True, exist_ok=True)
    for split, stems in lists.items():
        (main / f'{split}.txt').write_text(''.join(f'{s}\n' for s in stems))


def stems(coco):
    return sorted(i['file_name'].rsplit('.', 1)[0] for i in coco['images'])


@pytest.fixture
def voc(tmp_path):
    make_voc(tmp_path / 'VOC')
    return tmp_path / 'VOC'


def test_train_val_test_lists_are_kept_as_they_are(voc, tmp_path):
    write_lists(voc, train=['img_1', 'img_2', 'img_5'], val=['img_3'], test=['img_4', 'img_6'])
    result = convert_voc(voc, tmp_path / 'out', CLASSES, split=given_split(voc, None))
    assert stems(result.cocos['train']) == ['img_1', 'img_2', 'img_5']
    assert stems(result.cocos['val']) == ['img_3']
    assert stems(result.cocos['test']) == ['img_4', 'img_6']
    # the four other annotated images are in no list: left out, and the summary says so
    left = sorted(n.rsplit('.', 1)[0] for n in result.not_in_split)
    assert left == ['img_10', 'img_7', 'img_8', 'img_9']
    summary = summary_table(result)
    assert 'split: ImageSets/Main/{train,val,test}.txt' in summary
    assert '4 annotated images are in no split list and were left out' in summary
    written = json.loads((tmp_path / 'out/annotations/instances_test.json').read_text())
    assert stems(written) == ['img_4', 'img_6']


def test_train_and_test_only_carve_val_from_train_per_group(voc, tmp_path):
    train = [s for s in IMAGES if s not in ('img_4', 'img_5')]  # 8 images
    write_lists(voc, train=train, test=['img_4', 'img_5'])
    result = convert_voc(voc, tmp_path / 'out', CLASSES, split=given_split(voc, None), seed=3)
    got_train, got_val = stems(result.cocos['train']), stems(result.cocos['val'])
    assert sorted(got_train + got_val) == sorted(train) and not set(got_train) & set(got_val)
    assert stems(result.cocos['test']) == ['img_4', 'img_5']
    # groups among the 8: dog 4 (img_1,2,3,10) -> round(8/9) = 1 to val; cat 2 (img_6,7) ->
    # round(4/9) = 0; no boxes 2 (img_8,9) -> 0
    assert len(got_val) == 1 and got_val[0] in ('img_1', 'img_2', 'img_3', 'img_10')
    assert 'val carved from the training images (2/9 of each group, seed 3)' in result.split_how


def test_carve_val_rounds_two_ninths_of_each_group_and_follows_the_seed():
    class Record:
        def __init__(self, i, group):
            self.group, self.sort_key, self.i = group, (i,), i

    records = [Record(i, 'a') for i in range(18)] + [Record(i, 'b') for i in range(18, 22)]
    train, val = carve_val(records, ['a', 'b'], seed=0)
    assert sum(r.group == 'a' for r in val) == 4  # round(18 * 2/9) = 4
    assert sum(r.group == 'b' for r in val) == 1  # round(4 * 2/9) = round(0.89) = 1
    assert len(train) + len(val) == 22
    other = {r.i for r in carve_val(records, ['a', 'b'], seed=1)[1]}
    assert other != {r.i for r in val}  # another seed, another choice


def test_trainval_is_read_only_without_train_and_val(voc):
    write_lists(voc, trainval=['img_1', 'img_2'], test=['img_3'])
    assert read_image_sets(voc).assignment == {
        'img_1': 'trainval',
        'img_2': 'trainval',
        'img_3': 'test',
    }
    write_lists(voc, train=['img_1'], val=['img_2'])
    split = read_image_sets(voc)
    assert split.assignment == {'img_1': 'train', 'img_2': 'val', 'img_3': 'test'}
    assert split.source == 'ImageSets/Main/{train,val,test}.txt'


def test_no_test_list_writes_no_test_file_and_removes_an_old_one(voc, tmp_path):
    out = tmp_path / 'out'
    convert_voc(voc, out, CLASSES)  # the random split: a test file
    assert (out / 'annotations/instances_test.json').is_file()
    write_lists(voc, train=list(IMAGES)[:8], val=list(IMAGES)[8:])
    result = convert_voc(voc, out, CLASSES, split=given_split(voc, None))
    assert not result.cocos['test']['images']
    assert not (out / 'annotations/instances_test.json').exists()
    assert 'no test images: evaluate on val' in result.split_how


def test_an_image_in_two_lists_is_refused_naming_both_files(voc):
    write_lists(voc, train=['img_1', 'img_2'], test=['img_2'])
    with pytest.raises(
        VOCError,
        match=r"test.txt:1: image 'img_2' is in test, but also in " r'train \(.*train.txt:2\)',
    ):
        read_image_sets(voc)


def test_split_file_lines_and_errors(voc, tmp_path):
    good = tmp_path / 'split.txt'
    good.write_text('# stem split\nimg_1 train\n\nimg_2 train  # a comment\nimg_3 test\n')
    assert read_split_file(str(good)).assignment == {
        'img_1': 'train',
        'img_2': 'train',
        'img_3': 'test',
    }
    write_lists(voc, train=['img_4'])
    assert given_split(voc, str(good)).source == str(good)  # the file wins over ImageSets
    bad = tmp_path / 'bad.txt'
    bad.write_text('img_1 train\nimg_2 training\n')
    with pytest.raises(VOCError, match=r"bad.txt:2: expected \"image_id split\".*got 'img_2 "):
        read_split_file(str(bad))
    bad.write_text('# nothing\n')
    with pytest.raises(VOCError, match='lists no image'):
        read_split_file(str(bad))
    with pytest.raises(FileNotFoundError, match='--split-file .*missing.txt: no such file'):
        read_split_file(str(tmp_path / 'missing.txt'))


def test_a_split_without_training_images_is_refused(voc, tmp_path):
    write_lists(voc, val=['img_1'], test=['img_2'])
    with pytest.raises(VOCError, match='no annotated image is in the training split'):
        convert_voc(voc, tmp_path / 'out', CLASSES, split=given_split(voc, None))
    assert not (tmp_path / 'out' / 'annotations').exists()  # nothing written


def test_the_converter_keeps_image_sets_and_says_so(voc, tmp_path):
    write_lists(voc, train=list(IMAGES)[:7], test=list(IMAGES)[7:])
    out = tmp_path / 'out'
    cmd = [sys.executable, f'{TOOLS}/voc_to_coco.py', str(voc), str(out), '--classes', *CLASSES]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert 'split: ImageSets/Main/{train,test}.txt; val carved' in result.stdout
    assert '\r' not in result.stdout  # progress as lines: readable in a log file
    test = json.loads((out / 'annotations/instances_test.json').read_text())
    assert stems(test) == sorted(list(IMAGES)[7:])


def test_an_xml_size_that_is_not_the_images_is_an_error_naming_the_file(voc, tmp_path):
    xml = voc / 'Annotations' / 'img_2.xml'
    xml.write_text(xml.read_text().replace('<width>40</width>', '<width>400</width>'))
    with pytest.raises(VOCError, match=r'img_2.xml: <size> says 400x30, but its image .*img_2.jpg '
                       r'is 40x30: fix the XML'):  # fmt: skip
        convert_voc(voc, tmp_path / 'out', CLASSES)
    assert not (tmp_path / 'out' / 'annotations').exists()


def test_copying_onto_a_full_disk_is_refused_and_leaves_no_truncated_image(
    voc, tmp_path, monkeypatch
):
    import errno
    import shutil
    from collections import namedtuple

    from mgd.utils.fileio import NotWritableError

    out = tmp_path / 'out'
    usage = namedtuple('usage', 'total used free')
    with monkeypatch.context() as patch:
        patch.setattr(shutil, 'disk_usage', lambda path: usage(10**6, 10**6 - 100, 100))
        with pytest.raises(NotWritableError, match=r'copying the images needs .* MiB, and 0.0 MiB '
                           'are free; .*Nothing was written'):  # fmt: skip
            convert_voc(voc, out, CLASSES, copy=True)
    assert not list((out / 'images').iterdir())

    copied = []
    real_copyfile = shutil.copyfile

    def fills_up(src, dst, **kwargs):  # the third image fills the disk half way
        if len(copied) == 2:
            with open(dst, 'wb') as f:
                f.write(b'\xff\xd8 half a jpeg')
            raise OSError(errno.ENOSPC, 'No space left on device')
        copied.append(dst)
        return real_copyfile(src, dst, **kwargs)

    monkeypatch.setattr(shutil, 'copyfile', fills_up)
    with pytest.raises(NotWritableError, match='no space left while copying .*the annotation '
                       'files were not written'):  # fmt: skip
        convert_voc(voc, out, CLASSES, copy=True)
    assert sorted(p.name for p in (out / 'images').iterdir()) == sorted(
        p.rsplit('/', 1)[1] for p in copied
    )  # the two complete copies, not the truncated third
    assert not (out / 'annotations').exists()
