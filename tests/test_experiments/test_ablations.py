"""The ablation rows of ``tools/demo.py``: their ``--cfg-options`` name keys the MGD configs
have (the tools refuse any other) and set what each row claims, on every MGD level."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from mmengine.config import DictAction

from mgd.utils.config import load_config

REPO = Path(__file__).resolve().parents[2]
DEMO = runpy.run_path(str(REPO / 'tools/demo.py'))  # not run: only its definitions


def options_dict(options: list[str]) -> dict:
    """``--cfg-options`` strings as the tools parse them."""
    parsed = {}
    for option in options:
        key, _, value = option.partition('=')
        parsed[key] = DictAction._parse_iterable(value)
    return parsed


CASES = [
    (name, row)
    for name, setup in DEMO['SETUPS'].items()
    for row in setup['ablations']
    if 'ablations' in setup
]


@pytest.mark.parametrize(('setup', 'row'), CASES)
def test_ablation_sets_its_setting_on_every_mgd_level(setup, row):
    config = DEMO['SETUPS'][setup]['mgd']
    options = DEMO['ablation_options'](row, config)
    original = load_config(str(REPO / config)).model
    changed = load_config(str(REPO / config), options_dict(options)).model  # refuses bad keys
    connectors = changed.distiller.connectors
    losses = changed.distiller.distill_losses
    assert len(connectors) == len(losses) == 5  # P3-P7
    lambdas = [c.lambda_mgd for c in connectors.values()]
    alphas = [loss.alpha_mgd for loss in losses.values()]
    before = original.distiller
    if row == 'mask_free':  # no masking, the same generation block and loss weight
        assert lambdas == [0] * 5
        assert alphas == [loss.alpha_mgd for loss in before.distill_losses.values()]
        assert changed.inherit == original.inherit
    elif row == 'inherit_only':  # the MGD loss weighs nothing; the mask stays
        assert alphas == [0] * 5
        assert lambdas == [c.lambda_mgd for c in before.connectors.values()]
    else:  # mgd_without_inherit
        assert row == 'mgd_without_inherit'
        assert list(changed.inherit) == [] and original.inherit
        assert (lambdas, alphas) == (
            [c.lambda_mgd for c in before.connectors.values()],
            [loss.alpha_mgd for loss in before.distill_losses.values()],
        )
    assert all(v > 0 for v in [c.lambda_mgd for c in before.connectors.values()])


def test_every_ablation_is_tested():
    assert {row for _, row in CASES} == set(DEMO['ABLATIONS'])
