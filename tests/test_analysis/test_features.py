"""mgd.analysis.features and tools/analysis/feature_maps.py: spatial attention maps."""

from __future__ import annotations

import runpy
import sys

import cv2
import matplotlib.figure
import matplotlib.image
import numpy as np
import pytest
import torch
from demo_models import MGD_CFG, REPO, STUDENT_CFG, TEACHER_CFG

from mgd.analysis.features import (
    CELL_INCHES,
    DPI,
    attention_maps,
    feature_figure,
    spatial_attention,
)
from mgd.analysis.models import build_model, load_image

pytest_plugins = ['demo_models']  # the demo_checkpoints and image_dir fixtures


def test_spatial_attention_is_the_channel_mean_of_abs_scaled_to_unit_range():
    feature = torch.tensor([[[1.0, -3.0], [0.0, 2.0]], [[-1.0, 1.0], [2.0, -6.0]]])  # C=2, H=W=2
    # mean |F| over channels: [[1, 2], [1, 4]] -> (x - 1) / 3
    expected = np.array([[0.0, 1 / 3], [0.0, 1.0]])
    np.testing.assert_allclose(spatial_attention(feature), expected, rtol=1e-6)
    np.testing.assert_allclose(spatial_attention(feature[None]), expected, rtol=1e-6)
    assert not spatial_attention(torch.full((3, 4, 5), -2.0)).any()  # flat map: all zeros


def test_a_distillation_checkpoint_loads_its_student(demo_checkpoints):
    model = build_model(MGD_CFG, demo_checkpoints['mgd'])
    assert type(model).__name__ == 'RetinaNet'
    assert model.backbone.base_channels == 16
    assert model.bbox_head.retina_cls.bias.detach().eq(3.0).all()
    assert model.dataset_meta['classes'][0] == 'crazing'
    with pytest.raises(RuntimeError, match='does not fit'):
        build_model(TEACHER_CFG, demo_checkpoints['mgd'])  # w16 weights into the w32 teacher


def test_without_a_checkpoint_the_classes_come_from_the_dataset_class():
    from mgd.datasets.metainfo import NEU_DET_METAINFO

    model = build_model(STUDENT_CFG, init_weights=False)  # the config names mgd.NEUDETDataset
    assert model.dataset_meta['classes'] == NEU_DET_METAINFO['classes']
    assert model.dataset_meta['palette'] == NEU_DET_METAINFO['palette']


def test_attention_maps_follow_the_test_pipeline_and_fpn_strides(demo_checkpoints, image_dir):
    model = build_model(TEACHER_CFG, demo_checkpoints['teacher'])
    inputs, sample = load_image(model, str(image_dir / 'a.jpg'))
    # 120x90 -> Resize(256, 256, keep_ratio) -> 256x192, already multiples of 32: no padding
    assert tuple(sample.img_shape) == (192, 256)
    assert tuple(inputs.shape) == (1, 3, 192, 256)
    image, levels = attention_maps(model, str(image_dir / 'a.jpg'))
    assert image.shape == (192, 256, 3) and image.dtype == np.uint8
    assert [name for name, _ in levels] == ['P3', 'P4', 'P5', 'P6', 'P7']
    assert [m.shape for _, m in levels] == [(24, 32), (12, 16), (6, 8), (3, 4), (2, 2)]
    for _, attention in levels:
        assert attention.min() == 0 and attention.max() == pytest.approx(1)


def _expected_heatmaps(config, checkpoint, image):
    """The coloured attention maps worked out without mgd.analysis.features: the image resized
    by cv2 (120x90 -> 256x192), the model's own normalisation, backbone + neck, mean |F| over
    channels, min-max scaled to 0..255 and coloured with OpenCV's jet (as mmengine's
    ``draw_featmap`` colours)."""
    import cv2

    model = build_model(config, checkpoint)
    pixels = cv2.resize(cv2.imread(str(image)), (256, 192), interpolation=cv2.INTER_LINEAR)
    preprocessor = model.data_preprocessor
    inputs = torch.from_numpy(pixels).permute(2, 0, 1).float()
    if preprocessor._channel_conversion:
        inputs = inputs.flip(0)
    inputs = (inputs - preprocessor.mean) / preprocessor.std
    with torch.no_grad():
        features = model.neck(model.backbone(inputs[None]))
    maps = []
    for feature in features:
        mean = feature[0].abs().mean(0).numpy()
        scaled = ((mean - mean.min()) / (mean.max() - mean.min()) * 255).astype(np.uint8)
        maps.append(cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB))
    return maps


def test_feature_maps_command_draws_each_models_attention(
    demo_checkpoints, image_dir, tmp_path, monkeypatch, capsys
):
    """The figure the tool saves: row k is model k, its panels the input image and the
    jet-coloured attention of each FPN level, equal to the maps worked out by hand."""
    saved = []
    save = matplotlib.figure.Figure.savefig

    def keep(fig, *args, **kwargs):
        saved.append(fig)
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, 'savefig', keep)
    main = runpy.run_path(str(REPO / 'tools/analysis/feature_maps.py'))['main']
    out = tmp_path / 'attention.png'
    image = image_dir / 'b.png'
    monkeypatch.setattr(sys, 'argv', [
        'feature_maps.py', str(image), '--models',
        f'{TEACHER_CFG}:{demo_checkpoints["teacher"]}', STUDENT_CFG,  # no checkpoint: random
        f'{MGD_CFG}:{demo_checkpoints["mgd"]}', '--out', str(out)])  # fmt: skip
    main()
    assert capsys.readouterr().out.strip() == str(out)
    cell = CELL_INCHES * DPI
    # 3 models x (input + 5 levels), the pixel size fixed by the grid
    assert matplotlib.image.imread(out).shape[:2] == (round(3 * cell), round(6 * cell))

    (figure,) = saved
    panels = np.array(figure.axes).reshape(3, 6)
    shown = [[np.asarray(axis.images[0].get_array()) for axis in row] for row in panels]
    resized = cv2.cvtColor(
        cv2.resize(cv2.imread(str(image)), (256, 192), interpolation=cv2.INTER_LINEAR),
        cv2.COLOR_BGR2RGB,
    )
    for row, (config, checkpoint) in ((0, (TEACHER_CFG, 'teacher')), (2, (MGD_CFG, 'mgd'))):
        # the input as the model saw it (un-normalised: within a rounding step)
        assert np.abs(shown[row][0].astype(int) - resized).max() <= 1
        expected = _expected_heatmaps(config, demo_checkpoints[checkpoint], image)
        assert [m.shape for m in shown[row][1:]] == [m.shape for m in expected]
        for got, want in zip(shown[row][1:], expected):
            # equal colours, but for pixels a float rounding step away (a colour step apart)
            far = np.abs(got.astype(int) - want).max(-1) > 8
            assert far.mean() < 0.02
    assert panels[1][0].get_title().startswith('retinanet_r18-w16_demo: input')
    # the student's random weights and the MGD student's trained ones give different maps
    assert any(not np.array_equal(a, b) for a, b in zip(shown[1][1:], shown[2][1:]))
    with pytest.raises(ValueError, match='1 names for 2 models'):
        feature_figure(
            str(image_dir / 'a.jpg'),
            [(TEACHER_CFG, None), (MGD_CFG, None)],
            str(tmp_path / 'x.png'),
            names=['teacher'],
        )
