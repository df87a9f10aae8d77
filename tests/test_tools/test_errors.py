"""One error style for every tool: a refusal (bad config, flag, path, checkpoint, data) is one
``error: ...`` message naming what is wrong, exit status 1, no traceback; an unexpected error
keeps its traceback (mgd/utils/errors.py)."""

import runpy
import subprocess
import sys

import pytest
from utils import DEMO_STUDENT, REPO

from mgd.utils.errors import ConfigError, MissingFileError, refusal_of, run_main

S = str(DEMO_STUDENT)
CASES = [
    ('tools/train.py', ['nope.py'], "config 'nope.py' does not exist"),
    (
        'tools/train.py',
        [S, '--cfg-options', 'model.bbox_hed.num_classes=3'],
        "did you mean 'model.bbox_head.num_classes'",
    ),
    ('tools/test.py', ['nope.py', '/nope.pth'], "config 'nope.py' does not exist"),
    ('tools/infer.py', [S, '/nope.pth', '/nope.jpg'], "'/nope.jpg' is neither an image"),
    (
        'tools/prune.py',
        [S, '/nope.pth', '--flops-ratio', '0.5', '--work-dir', '{tmp}'],
        "checkpoint '/nope.pth' does not exist",
    ),
    ('tools/convert_to_student.py', ['/nope.pth', '{tmp}/s.pth'], "'/nope.pth' does not exist"),
    (
        'tools/analysis/cam.py',
        ['/nope.jpg', '--models', f'{S}:/nope.pth', '--out', '{tmp}/c.png'],
        "'/nope.jpg' is neither an image nor a folder",
    ),
    ('tools/analysis/complexity.py', ['nope.py'], "config 'nope.py' does not exist"),
    ('tools/analysis/complexity.py', [S, '--threads', '0'], '--threads 0: CPU threads, 1 or more'),
    ('tools/analysis/complexity.py', ['/nope.onnx'], "ONNX file '/nope.onnx' does not exist"),
    (
        'tools/deploy.py',
        [S, '/nope.pth', '--out', '{tmp}', '--images', '{tmp}', '--calib', '5'],
        '--calib and --score-thr set the INT8 quantization: add --int8',
    ),
    ('tools/analysis/plot_curves.py', ['/nope', '--out', '{tmp}/c.png'], "'/nope' does not"),
    ('tools/analysis/results_table.py', ['/nope'], 'run tools/test.py CONFIG CHECKPOINT'),
    ('tools/analysis/contrast_grid.py', ['/nope.jpg', '--out', '{tmp}/g.png'], 'neither an'),
    ('tools/dataset_converters/voc_to_coco.py', ['/nope', '{tmp}', '--classes', 'a'], 'no such'),
    ('tools/dataset_converters/neu_det_to_cls.py', ['/nope', '{tmp}'], '/nope: no such folder'),
    ('tools/demo.py', ['--data', '/nope', '--work-dir', '{tmp}'], '/nope: no such folder'),
    (
        'tools/analysis/contrast_grid.py',
        ['{tmp}/notes.jpg', '--out', '{tmp}/g.png'],
        "notes.jpg' is not a readable image (empty, corrupt, or not an image file)",
    ),
    (
        'tools/analysis/cam.py',
        ['{tmp}/notes.jpg', '--models', S, '--out', '{tmp}/c.png'],
        "notes.jpg' is not a readable image",
    ),
]


@pytest.mark.parametrize(
    'tool, args, message', CASES, ids=[c[0] + str(i) for i, c in enumerate(CASES)]
)
def test_a_refusal_is_one_error_line(tool, args, message, tmp_path, monkeypatch, capsys):
    args = [a.replace('{tmp}', str(tmp_path)) for a in args]
    (tmp_path / 'notes.jpg').write_text('a text file named like an image')
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, 'argv', [tool, *args])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(REPO / tool), run_name='__main__')
    err = capsys.readouterr().err
    assert exit_.value.code == 1 or str(exit_.value.code).startswith('error: ')
    text = err if exit_.value.code == 1 else str(exit_.value.code)
    assert text.startswith('error: ') and message in text
    assert 'Traceback' not in text


def test_in_a_subprocess_there_is_no_traceback():
    result = subprocess.run(
        [sys.executable, 'tools/train.py', 'nope.py'], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "error: config 'nope.py' does not exist"
    assert 'Traceback' not in result.stderr


def test_an_unexpected_error_keeps_its_traceback():
    def broken():
        raise ValueError('a bug, not a refusal')  # a builtin: nothing says the user can fix it

    with pytest.raises(ValueError, match='a bug'):
        run_main(broken)


def test_a_refusal_is_found_behind_the_error_raised_from_it():
    try:
        try:
            raise MissingFileError('x.pth does not exist')
        except MissingFileError as err:
            raise RuntimeError('while building the model') from err
    except RuntimeError as outer:
        assert str(refusal_of(outer)) == 'x.pth does not exist'
    assert isinstance(ConfigError('k'), ValueError)  # callers catching the builtin still do
    assert refusal_of(KeyError('k')) is None


@pytest.mark.parametrize(
    'flag, message',
    [
        (['--tile-grid-size', '0', '0'], '--tile-grid-size: ContrastEnhance tile_grid_size must'),
        (['--clip-limit', 'nan'], '--clip-limit: ContrastEnhance clip_limit must be > 0, got nan'),
    ],
)
def test_contrast_grid_checks_its_flags_as_the_transform_does(flag, message, monkeypatch, capsys):
    tool = 'tools/analysis/contrast_grid.py'
    monkeypatch.setattr(sys, 'argv', [tool, '/nope.jpg', '--out', '/tmp/never.png', *flag])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(REPO / tool), run_name='__main__')
    assert exit_.value.code == 2 and message in capsys.readouterr().err
