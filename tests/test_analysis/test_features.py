"""mgd.analysis.features and tools/analysis/feature_maps.py: spatial attention maps."""

from __future__ import annotations

import runpy
import sys

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


def test_feature_maps_command(demo_checkpoints, image_dir, tmp_path, monkeypatch, capsys):
    main = runpy.run_path(str(REPO / 'tools/analysis/feature_maps.py'))['main']
    out = tmp_path / 'attention.png'
    monkeypatch.setattr(sys, 'argv', [
        'feature_maps.py', str(image_dir / 'b.png'), '--models',
        f'{TEACHER_CFG}:{demo_checkpoints["teacher"]}', STUDENT_CFG,  # no checkpoint: random
        f'{MGD_CFG}:{demo_checkpoints["mgd"]}', '--out', str(out)])  # fmt: skip
    main()
    assert capsys.readouterr().out.strip() == str(out)
    with open(out, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    cell = CELL_INCHES * DPI
    # 3 models x (input + 5 levels)
    assert matplotlib.image.imread(out).shape[:2] == (round(3 * cell), round(6 * cell))
    with pytest.raises(ValueError, match='1 names for 2 models'):
        feature_figure(
            str(image_dir / 'a.jpg'),
            [(TEACHER_CFG, None), (MGD_CFG, None)],
            str(tmp_path / 'x.png'),
            names=['teacher'],
        )
