"""Checkpoints of rla_mm 0.1 (blocks under ``layerN.blocks.i``) load into
today's stages (``layerN.i``) and give the outputs they gave.

The fixture was written by rla_mm 0.1 itself
(``.dev_scripts/fixtures/record_checkpoints_0_1.py``).
"""
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.runner.checkpoint import load_checkpoint
from rla_testkit.checkout import FIXTURES

from rla_mm.registry import MODELS

RECORD = torch.load(
    osp.join(FIXTURES, 'rla_mm_0.1_tiny.pth'), weights_only=True)
NAMES = sorted(RECORD['models'])


def build(name: str) -> nn.Module:
    entry = RECORD['models'][name]
    return MODELS.get(entry['type'])(**entry['kwargs'])


def assert_outputs(model: nn.Module, name: str) -> None:
    """Every tensor of the old file is in the model, bit for bit, and the
    model gives the outputs 0.1 gave (to float rounding: the order of a
    convolution's sums follows the thread count, which differed)."""
    unmatched = list(model.state_dict().values())
    old = list(RECORD['models'][name]['state_dict'].values())
    assert len(unmatched) == len(old)
    for tensor in old:
        match = next((i for i, t in enumerate(unmatched)
                      if t.shape == tensor.shape and torch.equal(t, tensor)),
                     None)
        assert match is not None, f'{name}: a tensor of the file is missing'
        unmatched.pop(match)
    with torch.no_grad():
        outs = model.eval()(RECORD['input'])
    expected = RECORD['models'][name]['outputs']
    assert len(outs) == len(expected)
    for out, exp in zip(outs, expected):
        torch.testing.assert_close(out, exp, rtol=1e-5, atol=1e-5)


def test_the_fixture_is_in_the_old_layout():
    assert RECORD['version'] == '0.1.0'
    for entry in RECORD['models'].values():
        assert any('.blocks.0.' in k for k in entry['state_dict'])


@pytest.mark.parametrize('name', NAMES)
def test_load_state_dict_strict(name):
    model = build(name)
    model.load_state_dict(RECORD['models'][name]['state_dict'])
    assert_outputs(model, name)


@pytest.mark.parametrize('name', NAMES)
def test_pretrained_init_cfg_with_a_prefix(tmp_path, name):
    # MMEngine's Pretrained(prefix=) rebuilds a plain dict from a detector's
    # or classifier's checkpoint: no state-dict metadata, only the keys
    state = RECORD['models'][name]['state_dict']
    path = str(tmp_path / 'detector.pth')
    torch.save({'state_dict': {
        f'backbone.{k}': v
        for k, v in state.items()
    }}, path)
    entry = RECORD['models'][name]
    model = MODELS.get(entry['type'])(
        **entry['kwargs'],
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.'))
    model.init_weights()
    assert_outputs(model, name)


@pytest.mark.parametrize('name', NAMES)
def test_a_whole_model_checkpoint_through_mmengine(tmp_path, name):
    # load_from / --resume: the backbone inside a model, keys 'backbone.*'
    state = RECORD['models'][name]['state_dict']
    path = str(tmp_path / 'model.pth')
    torch.save({'state_dict': {
        f'backbone.{k}': v
        for k, v in state.items()
    }}, path)
    wrapper = nn.Module()
    wrapper.backbone = build(name)
    load_checkpoint(wrapper, path, strict=True)
    assert_outputs(wrapper.backbone, name)
