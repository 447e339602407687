"""RLA twins as drop-ins for MMSegmentation 1.x's ResNets (``rla_mm[seg]``).

Held against MMSegmentation's own classes: the defaults a swapped config
relies on, and the extra that installs it.
"""
import ast
import importlib.metadata
import inspect
import os.path as osp

import mmseg.models.backbones as seg
import pytest
import torch
from conftest import REPO_ROOT, randomize_norms
from mmengine.config import ConfigDict
from mmengine.registry import MODELS, DefaultScope
from packaging.requirements import Requirement

from rla_mm.models.backbones.library_defaults import (LIBRARY_DEFAULTS,
                                                      building_library)


def test_defaults_equal_mmsegmentations_own():
    params = inspect.signature(seg.ResNet).parameters
    for name in ('out_indices', 'norm_eval', 'stem_channels'):
        assert LIBRARY_DEFAULTS['mmseg'][name] == params[name].default, name
    params = inspect.signature(seg.ResNeXt).parameters
    assert LIBRARY_DEFAULTS['mmseg']['groups'] == params['groups'].default
    assert LIBRARY_DEFAULTS['mmseg']['width_per_group'] == \
        params['base_width'].default
    # MMSegmentation's ResNet defaults are those of a model built without a
    # scope; its ResNeXt's groups are MMDetection's (1), not the 32 of
    # MMPretrain and of no scope
    for name in ('out_indices', 'norm_eval', 'stem_channels'):
        assert LIBRARY_DEFAULTS['mmseg'][name] == LIBRARY_DEFAULTS[None][name]
    assert LIBRARY_DEFAULTS['mmseg']['groups'] == 1 != \
        LIBRARY_DEFAULTS[None]['groups']


def test_twins_built_by_mmsegmentation_take_its_defaults():
    import mmseg.models  # noqa: F401  (the scope's registry)
    with DefaultScope.overwrite_default_scope('mmseg'):
        assert building_library() == 'mmseg'
        resnet = MODELS.build(
            dict(
                type='RLAResNetV1c', depth=18, base_channels=8, rla_channel=4))
        resnext = MODELS.build(
            dict(type='RLAResNeXt', depth=50, base_channels=8, rla_channel=4))
        theirs = MODELS.build(dict(type='ResNeXt', depth=50, base_channels=8))
    assert resnet.out_indices == (0, 1, 2, 3)
    assert resnet.norm_eval is False and resnet.stem_channels == 64
    assert resnext.groups == theirs.groups == 1
    assert resnext.base_width == theirs.base_width == 4


def seg_extra() -> list:
    """The ``seg`` extra of setup.py, read from its source."""
    with open(osp.join(REPO_ROOT, 'setup.py')) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == 'extras_require':
            return ast.literal_eval(node.value)['seg']
    raise AssertionError('setup.py has no extras_require')


def seg_pins() -> dict:
    pins = {}
    with open(osp.join(REPO_ROOT, 'requirements', 'seg.txt')) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                req = Requirement(line)
                pins[req.name] = str(req.specifier).lstrip('=')
    return pins


def test_the_seg_extra_allows_the_pins_that_setup_installs():
    extra = {r.name: r for r in map(Requirement, seg_extra())}
    pins = seg_pins()
    assert set(extra) == set(pins) == {
        'mmsegmentation', 'prettytable', 'wcwidth', 'ftfy', 'regex'
    }
    for name, version in pins.items():
        assert extra[name].specifier.contains(version), (name, version)
        # what `make setup` installed (in both environments)
        assert importlib.metadata.version(name) == version, name


def test_mmsegmentation_models_import_with_the_extra():
    # ftfy and regex: imported by mmseg.models without being declared
    import ftfy  # noqa: F401
    import mmseg.models  # noqa: F401
    import regex  # noqa: F401


def plain_v1c_checkpoint(path, depth=50) -> 'torch.nn.Module':
    """A randomly initialised MMSegmentation ResNetV1c (random norm statistics
    too) saved in the layout of ``open-mmlab://resnet50_v1c``: its keys under
    ``state_dict``, no prefix, with a classifier's ``fc``; return the model."""
    torch.manual_seed(0)
    plain = seg.ResNetV1c(depth=depth)  # PyTorch's random init
    randomize_norms(plain)
    state = dict(plain.state_dict())
    state['fc.weight'] = torch.randn(1000, plain.feat_dim)
    state['fc.bias'] = torch.randn(1000)
    torch.save(dict(state_dict=state), str(path))
    return plain


DILATED = dict(
    depth=50,
    dilations=(1, 1, 2, 4),
    strides=(1, 2, 1, 1),
    contract_dilation=True)


def test_a_v1c_checkpoint_named_by_the_segmentor_initialises_the_twin_exactly(
        tmp_path):
    import mmseg.models  # noqa: F401
    path = tmp_path / 'resnet50_v1c.pth'
    plain = plain_v1c_checkpoint(path)
    segmentor = ConfigDict(
        type='EncoderDecoder',
        pretrained=str(path),  # as MMSegmentation's configs name it
        backbone=dict(type='RLAResNetV1c', **DILATED),
        decode_head=dict(
            type='FCNHead',
            in_channels=2048,
            channels=16,
            num_convs=1,
            num_classes=3))
    with DefaultScope.overwrite_default_scope('mmseg'):
        with pytest.warns(UserWarning, match='pretrained is deprecated'):
            model = MODELS.build(segmentor)
        model.init_weights()
        dilated_plain = MODELS.build(dict(type='ResNetV1c', **DILATED))
    dilated_plain.load_state_dict(plain.state_dict())
    twin = model.backbone.eval()
    dilated_plain.eval()
    x = torch.randn(1, 3, 33, 33)
    with torch.no_grad():
        for ours, theirs in zip(twin(x), dilated_plain(x)):
            assert ours.shape == theirs.shape
            torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
