"""Contrast enhancement: the transform against OpenCV on fixed images, the one-key switch in
the configs, and the before/after picture tool."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from mmengine.registry import TRANSFORMS
from tool_run import run_tool

from mgd.datasets.transforms import ContrastEnhance, enhance
from mgd.utils.config import load_config


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


@pytest.mark.parametrize(
    'config',
    [
        'configs/neu_det/retinanet_r18-w16_scratch_neu_det.py',
        'configs/neu_det/mgd_fpn_retina_r18-w32_retina_r18-w16_scratch_neu_det.py',
        'configs/demo/mgd_fpn_retina_r18-w32_retina_r18-w16_demo.py',
        'configs/neu_cls/resnet18-w8_neu_cls.py',
    ],
)
def test_one_key_switches_every_pipeline(config):
    off = load_config(config)
    assert off.contrast_enhancement is None
    on = load_config(config, {'contrast_enhancement': 'clahe'})
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        before = [t['type'] for t in off[loader].dataset.pipeline]
        after = [t['type'] for t in on[loader].dataset.pipeline]
        assert after == [before[0], 'mgd.ContrastEnhance', *before[1:]]
        assert on[loader].dataset.pipeline[1].method == 'clahe'


def test_a_pipeline_without_loading_is_named(tmp_path):
    path = tmp_path / 'cfg.py'
    path.write_text(
        "contrast_enhancement = 'hist_eq'\n"
        "train_dataloader = dict(dataset=dict(pipeline=[dict(type='PackDetInputs')]))\n"
    )
    with pytest.raises(ValueError, match='the train_dataloader pipeline has no LoadImageFromFile'):
        load_config(str(path))


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
