"""Prune -> export -> rebuild from a config -> load: the round trip, the FLOPs target, the
BN-scale criterion, and tools/prune.py as a user runs it."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmrazor.registry import MODELS
from tool_run import run_tool
from utils import (
    CONFIGS,
    REPO,
    build_model,
    check_training_step,
    offline_config,
    preprocess,
    tiny_batch,
    training_step,
)

from mgd.models.pruning import prune_to_flops, pruned_config

STUDENT = CONFIGS / 'demo/retinanet_r18-w16_demo.py'
MGD = CONFIGS / 'demo/mgd_fpn_retina_r18-w32_retina_r18-w16_demo.py'
SHAPE = (3, 128, 128)


@pytest.fixture(scope='module')
def trained():
    """A 'trained' student: random weights with BN scales made distinct."""
    torch.manual_seed(0)
    model = build_model(offline_config(STUDENT), train=False)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data = torch.rand_like(module.weight) + 0.1
            module.running_var.data = torch.rand_like(module.running_var) + 0.5
    return model.state_dict()


def fresh_student():
    cfg = offline_config(STUDENT)
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(cfg.model)


@pytest.mark.parametrize('importance', ['l1', 'bn'])
def test_prune_reaches_the_flops_target_and_keeps_the_fpn_outputs(trained, importance):
    structure, model, (full, pruned) = prune_to_flops(
        fresh_student(), trained, 0.6, importance, SHAPE
    )
    assert 0.55 <= pruned / full <= 0.6
    assert {n: c for n, c in structure.items() if n.startswith('neck.fpn_convs')}
    assert all(c == 64 for n, c in structure.items() if n.startswith('neck.fpn_convs'))
    assert model.backbone.conv1.out_channels < 16  # pruned, and static
    assert type(model.backbone.conv1) is torch.nn.Conv2d
    if importance == 'l1':  # the filters of largest L1 norm are kept, in their order
        weight = trained['backbone.layer2.0.conv1.weight']
        kept = structure['backbone.layer2.0.conv1_(0, 32)_32']
        assert kept < 32
        largest = weight.abs().sum((1, 2, 3)).topk(kept).indices.sort().values
        # the filters' own BatchNorm follows them (the conv's input channels are pruned too)
        gamma = trained['backbone.layer2.0.bn1.weight']
        torch.testing.assert_close(model.backbone.layer2[0].bn1.weight.detach(), gamma[largest])


def test_bn_scale_keeps_the_channels_of_largest_gamma(trained):
    structure, model, _ = prune_to_flops(fresh_student(), trained, 0.6, 'bn', SHAPE)
    gamma = trained['backbone.layer2.0.bn1.weight']
    kept = structure['backbone.layer2.0.conv1_(0, 32)_32']
    expected = gamma[gamma.abs().topk(kept).indices.sort().values]
    torch.testing.assert_close(model.backbone.layer2[0].bn1.weight.detach(), expected)


def test_rebuilt_from_config_and_files_equals_the_pruned_model(trained, tmp_path):
    structure, model, _ = prune_to_flops(fresh_student(), copy.deepcopy(trained), 0.5, 'l1', SHAPE)
    subnet, ckpt = tmp_path / 'fix_subnet.json', tmp_path / 'pruned.pth'
    subnet.write_text(json.dumps(structure))
    torch.save({'state_dict': model.state_dict()}, ckpt)
    path = tmp_path / 'pruned_student.py'
    path.write_text(pruned_config(str(STUDENT), str(subnet), str(ckpt), SHAPE, 'mmdet'))
    cfg = Config.fromfile(str(path))
    rebuilt = build_model(cfg, train=False)  # init_weights loads pruned.pth
    x = torch.randn(1, *SHAPE)
    with torch.no_grad():
        for a, b in zip(model.eval()(x, mode='tensor')[0], rebuilt(x, mode='tensor')[0]):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    # the MGD config with the pruned student builds, trains a step and does not inherit
    mgd_path = tmp_path / 'mgd_pruned.py'
    mgd_path.write_text(pruned_config(str(MGD), str(subnet), str(ckpt), SHAPE, 'mmdet'))
    mgd_cfg = offline_config(mgd_path)
    assert tuple(mgd_cfg.model.inherit) == ()
    algorithm = build_model(mgd_cfg)
    torch.testing.assert_close(
        algorithm.student.backbone.conv1.weight, model.backbone.conv1.weight, rtol=0, atol=0
    )
    losses = training_step(algorithm, preprocess(algorithm, tiny_batch(mgd_cfg)))
    check_training_step(algorithm, losses, {f'distill.loss_mgd_neck{i}' for i in range(5)})


def test_bad_settings_are_refused(trained):
    with pytest.raises(ValueError, match=r'flops_ratio must be in \(0, 1\), got 1.2'):
        prune_to_flops(fresh_student(), trained, 1.2)
    with pytest.raises(ValueError, match="importance must be one of \\['l1', 'bn'\\]"):
        prune_to_flops(fresh_student(), trained, 0.5, 'taylor')


def test_tool_writes_structure_weights_and_configs(trained, tmp_path):
    ckpt = tmp_path / 'student.pth'
    torch.save({'state_dict': trained}, ckpt)
    out = tmp_path / 'pruned'
    result = run_tool(
        'tools/prune.py', STUDENT, ckpt, '--flops-ratio', '0.5', '--importance', 'bn',
        '--input-size', '128', '128', '--mgd-config', MGD, '--work-dir', out,
    )  # fmt: skip
    assert '(bn importance)' in result.stdout
    ratio = float(result.stdout.split('G (')[1].split('%')[0]) / 100
    assert 0.4 <= ratio <= 0.5
    files = sorted(p.name for p in out.iterdir())
    assert files == [
        'fix_subnet.json',
        'mgd_fpn_retina_r18-w32_retina_r18-w16_demo.py',
        'pruned.pth',
        'pruned_retinanet_r18-w16_demo.py',
    ]
    rebuilt = build_model(Config.fromfile(str(out / 'pruned_retinanet_r18-w16_demo.py')))
    assert (
        rebuilt.backbone.conv1.out_channels
        == json.loads((out / 'fix_subnet.json').read_text())['backbone.conv1_(0, 16)_16']
    )
    # a second pruning into the same work dir is refused: it would replace the structure that
    # models fine-tuned from the first were trained with
    before = (out / 'pruned.pth').read_bytes()
    again = subprocess.run(
        [sys.executable, 'tools/prune.py', STUDENT, str(ckpt), '--flops-ratio', '0.3',
         '--work-dir', str(out)],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert again.returncode == 1 and 'Traceback' not in again.stderr
    assert 'already holds a pruned model (fix_subnet.json, pruned.pth)' in again.stderr
    assert 'or --force to replace it' in again.stderr
    assert (out / 'pruned.pth').read_bytes() == before
