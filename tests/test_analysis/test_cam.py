"""tools/analysis/cam.py: Grad-CAM of classifiers, EigenCAM of detectors, one PNG."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from tool_run import run_tool

from mgd.analysis.cam import heat_map, target_layers
from mgd.analysis.models import build_model

CLS = 'configs/neu_cls/resnet18-w8_neu_cls.py'
CLS_MGD = 'configs/neu_cls/mgd-mtkd_resnet18-w32-resnet34-w32_resnet18-w8_neu_cls.py'
DET = 'configs/demo/retinanet_r18-w16_demo.py'


def images(folder: Path, names=('crazing_1', 'crazing_2', 'scratches_1')) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in names:
        img = rng.integers(80, 160, (120, 120, 3), dtype=np.uint8)
        img[40:70, 50:60] = 20  # a dark defect
        cv2.imwrite(str(folder / f'{name}.jpg'), img)
    return folder


def test_layers_are_the_last_stage_and_the_first_fpn_levels():
    classifier = build_model(CLS)
    assert target_layers(classifier) == [classifier.backbone.layer4]
    detector = build_model(DET)
    assert target_layers(detector, levels=2) == list(detector.neck.fpn_convs[:2])


def test_grad_cam_is_a_map_for_the_asked_class():
    torch.manual_seed(0)
    model = build_model(CLS)
    inputs = torch.randn(1, 3, 64, 64)
    grayscale, target, prob = heat_map(model, inputs, target_class=4)
    assert grayscale.shape == (64, 64) and 0 <= grayscale.min() <= grayscale.max() <= 1
    assert target == 4
    assert prob == pytest.approx(model(inputs, mode='tensor').softmax(-1)[0, 4].item(), rel=1e-5)
    own, predicted, _ = heat_map(model, inputs)
    assert predicted == int(model(inputs, mode='tensor').argmax())


def test_tool_draws_every_model_on_every_image(tmp_path):
    folder = images(tmp_path / 'images')
    out = tmp_path / 'cam.png'
    result = run_tool(
        'tools/analysis/cam.py', folder, '--per-class', '1', '--models', CLS, CLS_MGD,
        '--names', 'baseline', 'mgd', '--out', out,
    )  # fmt: skip
    assert '2 images x 2 models' in result.stdout
    # both columns are maps for the class the first model predicts (printed per model)
    printed = {
        line.split(' ', 1)[0]: line.split(' ', 1)[1]
        for line in result.stdout.splitlines()
        if line.startswith(('baseline ', 'mgd '))
    }
    classes = {name: [c.split()[0] for c in text.split(', ')] for name, text in printed.items()}
    assert len(classes['baseline']) == 2 and classes['baseline'] == classes['mgd']
    picture = cv2.imread(str(out))
    assert picture.shape == (30 + 2 * 200, 3 * 200, 3)


def test_tool_draws_detector_eigencam(tmp_path):
    folder = images(tmp_path / 'images', ('patches_1',))
    out = tmp_path / 'det.png'
    run_tool('tools/analysis/cam.py', folder, '--models', DET, '--out', out, '--levels', '2')
    picture = cv2.imread(str(out))
    assert picture.shape == (230, 400, 3)
    assert picture[30:, 200:].std() > 0


def test_names_must_match_models(tmp_path):
    folder = images(tmp_path / 'images', ('patches_1',))
    result = run_tool(
        'tools/analysis/cam.py', folder, '--models', CLS, '--names', 'a', 'b', '--out',
        tmp_path / 'x.png', check=False,
    )  # fmt: skip
    assert result.returncode != 0 and '1 models but 2 --names' in result.stderr


class _ColourClassifier(torch.nn.Module):
    """A classifier whose answer is known: its last stage (a 1x1 conv + ReLU) has one channel
    per input colour, and class k's logit is the mean of channel k (red, green)."""

    def __init__(self):
        super().__init__()
        self.backbone = torch.nn.Module()
        self.backbone.stage = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1), torch.nn.ReLU())
        self.backbone.layers = ['stage']
        with torch.no_grad():
            self.backbone.stage[0].weight.copy_(torch.eye(3)[:2].view(2, 3, 1, 1))
            self.backbone.stage[0].bias.zero_()

    def forward(self, inputs, mode='tensor'):
        return self.backbone.stage(inputs).mean((2, 3))


@pytest.mark.parametrize('target', [0, 1])
def test_grad_cam_lights_where_the_class_evidence_is(target):
    """Red in the top-left quadrant, green in the bottom-right: the map of class 0 (red) is
    the top-left quadrant, that of class 1 (green) the bottom-right, nothing elsewhere."""
    from mgd.analysis.cam import heat_map

    inputs = torch.zeros(1, 3, 32, 32)
    inputs[0, 0, :16, :16] = 1.0  # red
    inputs[0, 1, 16:, 16:] = 1.0  # green
    grayscale, used, prob = heat_map(_ColourClassifier().eval(), inputs, target_class=target)
    assert used == target and prob == pytest.approx(0.5)  # both logits are 0.25
    hot = (slice(0, 16), slice(0, 16)) if target == 0 else (slice(16, 32), slice(16, 32))
    expected = np.zeros((32, 32), np.float32)
    expected[hot] = 1.0
    np.testing.assert_allclose(grayscale, expected, atol=1e-6)


class _QuadrantDetector(torch.nn.Module):
    """A detector whose only FPN level is rank one: every channel is a multiple of one map
    that is 1 in the top-left quadrant (at stride 4) and 0 elsewhere."""

    def __init__(self):
        super().__init__()
        self.bbox_head = torch.nn.Identity()
        self.neck = torch.nn.Module()
        self.neck.fpn_convs = torch.nn.ModuleList([torch.nn.Conv2d(1, 4, 1, bias=False)])
        with torch.no_grad():
            weights = torch.tensor([1.0, 2.0, -1.0, 0.5])
            self.neck.fpn_convs[0].weight.copy_(weights.view(4, 1, 1, 1))

    def forward(self, inputs, mode='tensor'):
        quadrant = torch.zeros(inputs.shape[0], 1, inputs.shape[2] // 4, inputs.shape[3] // 4)
        quadrant[:, :, : quadrant.shape[2] // 2, : quadrant.shape[3] // 2] = 1.0
        return [self.neck.fpn_convs[0](quadrant + 0 * inputs.mean())]


def test_eigencam_of_a_detector_is_the_first_principal_component():
    """The centred activations' first principal component is the quadrant map (0.75 inside,
    -0.25 outside) up to the SVD's arbitrary sign, turned to rise where |F| is strong; EigenCAM
    keeps its positive part, min-max scaled, at the input's size: the quadrant (here the
    library alone returns its complement)."""
    grayscale, target, prob = heat_map(_QuadrantDetector(), torch.zeros(1, 3, 32, 32), levels=1)
    assert target is None and prob is None and grayscale.shape == (32, 32)
    quadrant = np.zeros((32, 32), np.float32)
    quadrant[:16, :16] = 1.0
    # the 8x8 map resized to 32x32 (bilinear): exact away from the quadrant's edge
    inside, outside = grayscale[:14, :14], grayscale[18:, :]
    np.testing.assert_allclose(inside, 1.0, atol=1e-6)
    np.testing.assert_allclose(outside, 0.0, atol=1e-6)
    np.testing.assert_allclose(grayscale[:, 18:], 0.0, atol=1e-6)
