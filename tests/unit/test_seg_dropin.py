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
from mmengine.config import ConfigDict
from mmengine.registry import MODELS, DefaultScope
from packaging.requirements import Requirement
from rla_testkit.checkout import REPO_ROOT
from rla_testkit.models import randomize_norms

from rla_mm.models.backbones.library_defaults import (LIBRARY_DEFAULTS,
                                                      building_library)


@pytest.mark.parametrize(
    'theirs,ours', [(seg.ResNet, 'RLAResNet'), (seg.ResNetV1c, 'RLAResNetV1c'),
                    (seg.ResNetV1d, 'RLAResNetV1d'),
                    (seg.ResNeXt, 'RLAResNeXt')],
    ids=lambda c: getattr(c, '__name__', c))
def test_twin_takes_every_argument_of_mmsegmentations_class(theirs, ours):
    import rla_mm.models as rla

    def arguments(cls_) -> set:
        names = set()
        for klass in cls_.__mro__:
            init = klass.__dict__.get('__init__')
            if init is None:
                continue
            params = inspect.signature(init).parameters
            names |= {
                n
                for n, p in params.items()
                if n != 'self' and p.kind not in (p.VAR_POSITIONAL,
                                                  p.VAR_KEYWORD)
            }
            if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
                break
        return names

    assert arguments(theirs) - arguments(getattr(rla, ours)) == set()
    assert {'contract_dilation', 'multi_grid'} <= arguments(theirs)


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


@pytest.mark.parametrize(
    'kwargs,sizes',
    [
        # output stride 8: 65 after the first stem conv, 33 after the
        # max-pool, 17 from stage 2 on
        (dict(dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1)), (33, 17, 17, 17)),
        # output stride 16 with multi-grid (the mg124 configs)
        (dict(
            dilations=(1, 1, 1, 2), strides=(1, 2, 2, 1),
            multi_grid=(1, 2, 4)), (33, 17, 9, 9)),
    ],
    ids=['d8', 'd16-mg124'])
def test_in_dilated_stages_h_stays_aligned_with_x_at_odd_sizes(kwargs, sizes):
    from rla_mm.models import RLAResNetV1c
    from rla_mm.visualization import record_hidden
    common = dict(depth=50, base_channels=8, contract_dilation=True, **kwargs)
    torch.manual_seed(0)
    twin = RLAResNetV1c(rla_channel=4, **common).eval()
    plain = seg.ResNetV1c(**common)
    plain.eval()  # MMSegmentation's train() returns None, so no chain
    # conv2 is dilated block by block as in MMSegmentation; the recurrent
    # conv, shared by the blocks of a stage, is not
    for name in ('layer1', 'layer2', 'layer3', 'layer4'):
        ours, theirs = getattr(twin, name), getattr(plain, name)
        assert [b.conv2.dilation for b in ours] == \
            [b.conv2.dilation for b in theirs]
        assert ours.recurrent_conv.dilation == (1, 1)
        assert ours.recurrent_conv.padding == (1, 1)
    outputs = {}

    def keep(key):
        return lambda module, args, out: outputs.__setitem__(key, out)

    handles = [
        block.register_forward_hook(keep((name, j)))
        for name in ('layer1', 'layer2', 'layer3', 'layer4')
        for j, block in enumerate(getattr(twin, name))
    ]
    x = torch.randn(1, 3, 129, 129)
    try:
        with torch.no_grad(), record_hidden(twin) as rec:
            feats = twin(x)
    finally:
        for handle in handles:
            handle.remove()
    with torch.no_grad():
        assert [f.shape for f in feats] == [f.shape for f in plain(x)]
    assert [f.shape[-1] for f in feats] == list(sizes)
    assert len(rec.updates) == sum(
        len(getattr(twin, n)) for n in ('layer1', 'layer2', 'layer3',
                                        'layer4')) - 1  # none after the last
    for update in rec.updates:
        x_shape = outputs[(update.stage, update.block)].shape[-2:]
        assert update.h_prev.shape[-2:] == update.h.shape[-2:] == x_shape
    # in a dilated stage h keeps its size from block to block
    for update in rec.updates:
        stage = int(update.stage[-1]) - 1
        assert update.h.shape[-1] == sizes[stage]
