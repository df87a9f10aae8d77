"""NEU-DET -> COCO converter, its output: the JSON files as one unit, stale temporaries
removed, permissions, and an output folder that cannot be written reported before any work."""

import os
import shutil
import stat

import pytest
from test_neu_det_converter import make_neu_det, run_tool

from mgd.datasets.converters.neu_det import convert
from mgd.utils import fileio


@pytest.fixture
def neu_det(tmp_path):
    root = tmp_path / 'NEU-DET'
    return root, make_neu_det(root)


SPLIT_FILES = [f'instances_{s}.json' for s in ('train', 'val', 'test')]


class Killed(BaseException):
    """Stands for a SIGKILL: raised from the k-th rename or removal on, so nothing after it
    (clean-up in ``finally`` included) can change the folder any more."""


def kill_from_call(monkeypatch, k: int) -> list:
    """Every rename, folder swap and tree removal from the ``k``-th on raises ``Killed``."""
    calls = []

    def dying(fn):
        def call(*args, **kwargs):
            calls.append(fn.__name__)
            if len(calls) >= k:
                raise Killed
            return fn(*args, **kwargs)

        return call

    monkeypatch.setattr(os, 'replace', dying(os.replace))
    monkeypatch.setattr(os, 'rename', dying(os.rename))
    monkeypatch.setattr(shutil, 'rmtree', dying(shutil.rmtree))
    if hasattr(fileio, '_exchange'):
        monkeypatch.setattr(fileio, '_exchange', dying(fileio._exchange))
    return calls


def annotation_set(out) -> dict[str, bytes] | None:
    folder = out / 'annotations'
    if not folder.exists():
        return None
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


@pytest.mark.parametrize('exchange', [True, False], ids=['swap-in-one-step', 'two-renames'])
def test_a_kill_at_any_moment_never_mixes_two_splits(neu_det, tmp_path, monkeypatch, exchange):
    root, _ = neu_det
    sets = {}
    for seed in (0, 1):
        convert(str(root), str(tmp_path / f'seed{seed}'), seed=seed, progress=False)
        sets[seed] = annotation_set(tmp_path / f'seed{seed}')
    assert sets[0] != sets[1] and list(sets[0]) == sorted(SPLIT_FILES)
    out = tmp_path / 'coco'
    k = 1
    while True:
        shutil.rmtree(out, ignore_errors=True)
        convert(str(root), str(out), seed=0, progress=False)
        with monkeypatch.context() as patch:
            if not exchange:
                patch.setattr(fileio, '_exchange', lambda a, b: False, raising=False)
            calls = kill_from_call(patch, k)
            try:
                convert(str(root), str(out), seed=1, progress=False)
                finished = True
            except Killed:
                finished = False
        after = annotation_set(out)
        assert after in (sets[0], sets[1], None), f'killed at call {k} of {calls}: mixed set'
        # the next run cleans up whatever the killed one left
        convert(str(root), str(out), seed=1, progress=False)
        assert annotation_set(out) == sets[1]
        assert sorted(os.listdir(out)) == ['annotations', 'images']
        if finished:
            break
        k += 1
    assert k > 1


def test_stale_temporaries_of_killed_runs_are_removed(neu_det, tmp_path):
    root, _ = neu_det
    out = tmp_path / 'coco'
    convert(str(root), str(out), progress=False)
    # what killed runs leave: the old per-file temporaries and hidden sibling folders
    (out / 'annotations' / '.instances_val.json.k3j_x9.tmp').write_text('{"half": ')
    for name in ('.annotations.a1b2c3.tmp', '.annotations.d4e5f6-old.tmp'):
        (out / name).mkdir()
        (out / name / 'instances_train.json').write_text('{}')
    convert(str(root), str(out), seed=1, progress=False)
    assert sorted(os.listdir(out)) == ['annotations', 'images']
    assert sorted(os.listdir(out / 'annotations')) == sorted(SPLIT_FILES)


def test_output_is_readable_like_any_other_file(neu_det, tmp_path):
    root, _ = neu_det
    old = os.umask(0o027)
    try:
        convert(str(root), str(tmp_path / 'coco'), progress=False)
    finally:
        os.umask(old)
    folder = tmp_path / 'coco' / 'annotations'
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~0o027
    for name in SPLIT_FILES:
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o666 & ~0o027


def test_in_place_conversion_keeps_the_xml_files(tmp_path):
    root = tmp_path / 'neu'
    make_neu_det(root, upper=False)
    xml_files = sorted(os.listdir(root / 'annotations'))
    convert(str(root), str(root), progress=False)
    convert(str(root), str(root), seed=1, progress=False)  # needs the XML files again
    assert sorted(os.listdir(root / 'annotations')) == sorted(xml_files + SPLIT_FILES)


def test_in_place_conversion_after_a_kill_between_renames(tmp_path, monkeypatch):
    """Where folders cannot be swapped in one step, a kill between the two renames leaves
    ``annotations/`` aside; in place, it holds the XML files, and the next run puts it back."""
    root = tmp_path / 'neu'
    make_neu_det(root, upper=False)
    xml_files = sorted(os.listdir(root / 'annotations'))
    with monkeypatch.context() as patch:
        patch.setattr(fileio, '_exchange', lambda a, b: False)
        kill_from_call(patch, 3)  # 1 exchange (refused), 2 rename aside, 3 rename into place
        with pytest.raises(Killed):
            convert(str(root), str(root), progress=False)
    assert not (root / 'annotations').exists()
    convert(str(root), str(root), progress=False)
    assert sorted(os.listdir(root / 'annotations')) == sorted(xml_files + SPLIT_FILES)
    assert sorted(os.listdir(root)) == ['annotations', 'images']


@pytest.mark.parametrize('in_the_way', ['out_dir', 'annotations'])
def test_a_file_in_the_way_is_reported_before_anything_is_made(neu_det, tmp_path, in_the_way):
    root, _ = neu_det
    out = tmp_path / 'coco'
    blocker = out if in_the_way == 'out_dir' else out / 'annotations'
    blocker.parent.mkdir(exist_ok=True)
    blocker.write_text('not a folder')
    result = run_tool(root, out)
    assert result.returncode != 0
    assert 'Traceback' not in result.stderr
    assert str(blocker) in result.stderr and 'out_dir' in result.stderr
    assert blocker.read_text() == 'not a folder'
    assert sorted(os.listdir(tmp_path)) == ['NEU-DET', 'coco']
    if in_the_way == 'annotations':
        assert os.listdir(out) == ['annotations']  # no images/ linked


def test_an_unwritable_out_dir_is_reported_before_parsing(neu_det, tmp_path):
    root, _ = neu_det
    (root / 'ANNOTATIONS' / 'scratches_3.xml').write_text('<annotation><filename>scr')
    out = '/proc/mgd-no-such-dir/coco'  # not writable, even by root
    result = run_tool(root, out)
    assert result.returncode != 0
    assert 'Traceback' not in result.stderr and 'malformed' not in result.stderr
    assert out in result.stderr and 'out_dir' in result.stderr
