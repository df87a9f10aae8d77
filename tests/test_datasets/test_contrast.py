"""Contrast enhancement: the transform against OpenCV on fixed images, the CLAHE config's
pipelines (and a run of it through mmengine's Runner alone), and the before/after picture
tool."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.registry import TRANSFORMS
from tool_run import run_tool

from mgd.datasets.transforms import ContrastEnhance, enhance, with_contrast_enhancement
from mgd.utils.config import load_config

REPO = Path(__file__).resolve().parents[2]


def low_contrast(seed: int = 0, shape=(64, 80)) -> np.ndarray:
    """A fixed grey image squeezed into 100..140 with a faint darker blob."""
    rng = np.random.default_rng(seed)
    img = 120 + rng.normal(0, 6, shape)
    img[20:35, 30:50] -= 12
    return np.clip(img, 100, 140).astype(np.uint8)


def test_hist_eq_of_a_grey_image_is_opencvs():
    img = low_contrast()
    out = ContrastEnhance('hist_eq')(dict(img=img))['img']
    np.testing.assert_array_equal(out, cv2.equalizeHist(img))
    assert out.min() == 0 and out.max() == 255  # stretched over the whole range


def test_clahe_of_a_grey_image_is_opencvs():
    img = low_contrast()
    out = ContrastEnhance('clahe', clip_limit=3.0, tile_grid_size=(4, 5))(dict(img=img))['img']
    reference = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 5)).apply(img)
    np.testing.assert_array_equal(out, reference)
    assert out.std() > img.std()


@pytest.mark.parametrize('method', ['hist_eq', 'clahe'])
def test_three_equal_channels_are_treated_as_grey(method):
    img = low_contrast()
    three = np.repeat(img[..., None], 3, axis=2)  # how NEU-DET stores its grey JPEGs
    out = enhance(three, method)
    assert out.shape == three.shape and out.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], enhance(img, method))


@pytest.mark.parametrize('method', ['hist_eq', 'clahe'])
def test_colour_is_enhanced_on_lightness_only(method):
    rng = np.random.default_rng(1)
    img = np.clip(rng.normal((90, 110, 130), 8, (48, 48, 3)), 0, 255).astype(np.uint8)
    out = enhance(img, method)
    lab_in = cv2.cvtColor(img, cv2.COLOR_BGR2LAB)
    expected_l = (
        cv2.equalizeHist(lab_in[..., 0])
        if method == 'hist_eq'
        else (cv2.createCLAHE(2.0, (8, 8)).apply(lab_in[..., 0]))
    )
    reference = cv2.cvtColor(
        np.dstack([expected_l, lab_in[..., 1], lab_in[..., 2]]), cv2.COLOR_LAB2BGR
    )
    np.testing.assert_array_equal(out, reference)
    lab_out = cv2.cvtColor(out, cv2.COLOR_BGR2LAB)
    assert np.abs(lab_out[..., 1:].astype(int) - lab_in[..., 1:]).mean() < 2  # hues kept
    assert lab_out[..., 0].std() > lab_in[..., 0].std()


@pytest.mark.parametrize(
    'kwargs, message',
    [
        (dict(method='gamma'), "must be one of \\('hist_eq', 'clahe'\\)"),
        (dict(clip_limit=0), 'clip_limit must be > 0'),
        (dict(tile_grid_size=(8,)), 'tile_grid_size must be two ints'),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ContrastEnhance(**kwargs)


def test_float_images_are_refused():
    with pytest.raises(ValueError, match='needs uint8 images, got float32'):
        enhance(np.zeros((4, 4), np.float32), 'clahe')


def test_registered_in_the_mgd_scope():
    transform = TRANSFORMS.build(dict(type='mgd.ContrastEnhance', method='hist_eq'))
    assert isinstance(transform, ContrastEnhance)


CLAHE_CONFIG = 'configs/neu_det/retinanet_r18-w16_scratch_clahe_neu_det.py'
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def test_the_clahe_config_shows_the_step_in_every_pipeline():
    base = load_config('configs/neu_det/retinanet_r18-w16_scratch_neu_det.py')
    cfg = load_config(CLAHE_CONFIG)
    for loader in LOADERS:
        before = base[loader].dataset.pipeline
        after = cfg[loader].dataset.pipeline
        assert [t['type'] for t in after] == [
            before[0]['type'],
            'mgd.ContrastEnhance',
            *[t['type'] for t in before[1:]],
        ]
        assert after[1] == dict(
            type='mgd.ContrastEnhance', method='clahe', clip_limit=2.0, tile_grid_size=(8, 8)
        )
    # the helper's variables are not config keys; everything else is the base's
    assert set(cfg.keys()) == set(base.keys())
    assert cfg.model == base.model and cfg.optim_wrapper == base.optim_wrapper


def test_the_tools_test_pipeline_enhances_too():
    """tools/infer.py and the analysis tools read images through the config's test pipeline:
    a model trained on enhanced images is shown enhanced images."""
    from mgd.analysis.models import build_model, test_pipeline

    model = build_model(CLAHE_CONFIG, init_weights=False)
    steps = [type(t).__name__ for t in test_pipeline(model).transforms]
    assert steps[:2] == ['LoadImageFromFile', 'ContrastEnhance']


def test_with_contrast_enhancement_refuses_what_it_cannot_do():
    loading = [dict(type='LoadImageFromFile'), dict(type='PackDetInputs')]
    with pytest.raises(ValueError, match='has no LoadImageFrom'):
        with_contrast_enhancement([dict(type='PackDetInputs')])
    with pytest.raises(ValueError, match='already has a ContrastEnhance'):
        with_contrast_enhancement(with_contrast_enhancement(loading))
    with pytest.raises(ValueError, match="method must be one of .*got 'gamma'"):
        with_contrast_enhancement(loading, 'gamma')
    with pytest.raises(ValueError, match='clip_limit must be > 0'):
        with_contrast_enhancement(loading, clip_limit=0)
    assert loading == [dict(type='LoadImageFromFile'), dict(type='PackDetInputs')]  # untouched


def test_the_old_key_is_refused_not_ignored():
    with pytest.raises(ValueError, match="'contrast_enhancement'.*a step of the data pipelines"):
        load_config(
            'configs/neu_det/retinanet_r18-w16_scratch_neu_det.py',
            {'contrast_enhancement': 'clahe'},
        )


RUNNER_ONLY = """
import json, sys
from mmengine.config import Config
from mmengine.runner import Runner

cfg = Config.fromfile(sys.argv[1])
root = sys.argv[2] + '/'
for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
    cfg[loader].dataset.data_root = root
    cfg[loader].dataset.ann_file = 'annotations/instances_' + (
        'train' if loader == 'train_dataloader' else 'val') + '.json'
    cfg[loader].num_workers = 0
    cfg[loader].persistent_workers = False
cfg.train_dataloader.batch_size = 4
cfg.train_cfg.max_epochs = 1
cfg.train_cfg.val_interval = 1
cfg.default_hooks.checkpoint.interval = 1
cfg.work_dir = sys.argv[3]
cfg.model.test_cfg.score_thr = 0.0  # an untrained model: score every detection
runner = Runner.from_cfg(cfg)
calls = []
enhance = [t for t in runner.train_dataloader.dataset.pipeline.transforms
           if type(t).__name__ == 'ContrastEnhance'][0]
original = enhance.transform
enhance.transform = lambda results: calls.append(results['img_path']) or original(results)
runner.train()
metrics = runner.test()
import mmcv.ops, mgd.compat.cuda_ops as routing
print(json.dumps(dict(
    hooks=[type(h).__name__ for h in runner.hooks],
    enhanced=len(calls),
    test_pipeline=[type(t).__name__ for t in runner.test_dataloader.dataset.pipeline.transforms],
    metrics=sorted(metrics),
    routing=routing.active_path(),
)))
"""


def test_runner_from_cfg_alone_trains_and_tests_with_every_fix_hook_and_transform(tmp_path):
    """No tool of ours: a fresh python, mmengine's Runner.from_cfg, the config as written."""
    from mgd.datasets.converters.synthetic import make_demo_data

    data = tmp_path / 'data'
    make_demo_data(str(data), 8, 4, seed=0)
    script = tmp_path / 'runner_only.py'
    script.write_text(RUNNER_ONLY)
    out = subprocess.run(
        [sys.executable, str(script), CLAHE_CONFIG, str(data), str(tmp_path / 'work')],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert {'AtomicCheckpointHook', 'RNGStateHook', 'FiniteLossHook'} <= set(report['hooks'])
    assert 'CheckpointHook' not in report['hooks']  # replaced, not doubled
    assert report['enhanced'] == 8  # every training image, once in the one epoch
    assert report['test_pipeline'][:2] == ['LoadImageFromFile', 'ContrastEnhance']
    assert 'coco/bbox_mAP' in report['metrics']
    assert report['routing'] in ('mmcv', 'torchvision')  # mgd.compat was applied by the config
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()


def test_grid_tool_writes_the_before_after_picture(tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    for name in ('crazing_1', 'crazing_2', 'patches_1'):
        cv2.imwrite(str(images / f'{name}.jpg'), np.repeat(low_contrast()[..., None], 3, axis=2))
    out = tmp_path / 'grid.png'
    result = run_tool('tools/analysis/contrast_grid.py', images, '--per-class', '1', '--out', out)
    assert '2 images' in result.stdout  # one per prefix
    picture = cv2.imread(str(out))
    assert picture.shape == (30 + 2 * 200, 3 * 200, 3)
    assert picture[30:230, 200:400].std() > picture[30:230, :200].std()  # hist_eq column
