"""RLA twins as drop-ins for MMDetection's and MMPretrain's ResNet family.

Held against the libraries' own classes: every argument they take, the defaults
a swapped config relies on, the main-path shapes they build, and the plain
checkpoints they load.
"""
import inspect
import warnings

import mmcv.ops  # noqa: F401  (registers DCN)
import mmdet.models.backbones as det
import mmpretrain.models.backbones as cls
import pytest
import torch
from mmengine.registry import MODELS, DefaultScope
from rla_testkit.models import randomize_norms

import rla_mm.models as rla
from rla_mm.models.backbones.library_defaults import (LIBRARY_DEFAULTS,
                                                      building_library)

# (their class, our twin) for each library's ResNet family.
DET_TWINS = [(det.ResNet, rla.RLAResNet), (det.ResNetV1d, rla.RLAResNetV1d),
             (det.ResNeXt, rla.RLAResNeXt)]
CLS_TWINS = [(cls.ResNet, rla.RLAResNet), (cls.ResNetV1c, rla.RLAResNetV1c),
             (cls.ResNetV1d, rla.RLAResNetV1d), (cls.ResNeXt, rla.RLAResNeXt),
             (cls.SEResNet, rla.RLASEResNet),
             (cls.SEResNeXt, rla.RLASEResNeXt)]


def arguments(cls_) -> set:
    """Every named argument of ``cls_`` and of the classes it passes
    ``**kwargs`` on to."""
    names = set()
    for klass in cls_.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        params = inspect.signature(init).parameters
        names |= {
            n
            for n, p in params.items()
            if n != 'self' and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            break
    return names


@pytest.mark.parametrize(
    'theirs,ours',
    DET_TWINS + CLS_TWINS,
    ids=lambda c: f'{c.__module__.split(".")[0]}.'
    f'{c.__name__}')
def test_twin_takes_every_argument_of_its_library_class(theirs, ours):
    missing = arguments(theirs) - arguments(ours)
    assert missing == set()


def built_in(scope, cfg):
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg)


@pytest.mark.parametrize('scope', ['mmdet', 'mmpretrain', None])
def test_defaults_follow_the_building_library(scope):
    import mmdet.models  # noqa: F401  (the scopes' registries)
    import mmpretrain.models  # noqa: F401
    with DefaultScope.overwrite_default_scope(scope):
        assert building_library() == scope
        model = MODELS.build(
            dict(type='RLAResNet', depth=18, base_channels=8, rla_channel=4))
        # the rla_mm scope a type='rla_mm.X' lookup switches to is looked
        # through
        prefixed = MODELS.build(
            dict(
                type='rla_mm.RLAResNet',
                depth=18,
                base_channels=8,
                rla_channel=4))
    want = LIBRARY_DEFAULTS[scope]
    for m in (model, prefixed):
        assert m.out_indices == want['out_indices']
        assert m.norm_eval is want['norm_eval']
        # MMDetection's stem_channels=None means base_channels
        assert m.stem_channels == (want['stem_channels'] or 8)


def test_defaults_equal_the_libraries_own():
    for lib, klass in (('mmdet', det.ResNet), ('mmpretrain', cls.ResNet)):
        params = inspect.signature(klass).parameters
        for name in ('out_indices', 'norm_eval', 'stem_channels'):
            assert LIBRARY_DEFAULTS[lib][name] == params[name].default, name
    for lib, klass, width in (('mmdet', det.ResNeXt, 'base_width'),
                              ('mmpretrain', cls.ResNeXt, 'width_per_group')):
        params = inspect.signature(klass).parameters
        assert LIBRARY_DEFAULTS[lib]['groups'] == params['groups'].default
        assert LIBRARY_DEFAULTS[lib]['width_per_group'] == \
            params[width].default


def main_path_shapes(model, rla_model=False) -> dict:
    """Shapes of the main path's tensors, by the plain library's key names;
    first convs as (out, kernel...) since ours read k more channels."""
    shapes = {}
    for key, value in model.state_dict().items():
        if rla_model:
            if any(
                    part in key
                    for part in ('.norms.', '.conv_out.', '.recurrent_conv.')):
                continue
        if '.se' in key or 'bn_hidden' in key or 'avgpool' in key:
            continue
        shape = tuple(value.shape)
        if key.endswith('conv1.weight') and key.startswith('layer'):
            shape = (shape[0], ) + shape[2:]
        shapes[key] = shape
    return shapes


def canonical(shapes: dict) -> list:
    """Sorted shapes with the stem and shortcut sequences renumbered, as the
    libraries number those sequences differently."""
    return sorted((k.split('.')[0] if k.startswith('stem') else k.
                   rsplit('downsample', 1)[0], v) for k, v in shapes.items())


@pytest.mark.parametrize('scope,theirs,ours,kwargs', [
    ('mmdet', det.ResNet, rla.RLAResNet, dict(depth=50)),
    ('mmdet', det.ResNetV1d, rla.RLAResNetV1d, dict(depth=50)),
    ('mmdet', det.ResNeXt, rla.RLAResNeXt,
     dict(depth=50, groups=32, base_width=4)),
    ('mmpretrain', cls.ResNetV1c, rla.RLAResNetV1c, dict(depth=18)),
    ('mmpretrain', cls.ResNeXt, rla.RLAResNeXt, dict(depth=50)),
    ('mmpretrain', cls.SEResNeXt, rla.RLASEResNeXt, dict(depth=50)),
])
def test_main_path_matches_the_library_class(scope, theirs, ours, kwargs):
    with DefaultScope.overwrite_default_scope(scope):
        plain = theirs(**kwargs)
        twin = ours(rla_channel=4, **kwargs)
    assert twin.out_indices == tuple(plain.out_indices)
    assert twin.norm_eval == plain.norm_eval
    assert canonical(main_path_shapes(twin, True)) == \
        canonical(main_path_shapes(plain))


def test_num_stages_and_c4():
    model = rla.RLAResNet(
        depth=50,
        rla_channel=4,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, )).eval()
    assert model.res_layers == ['layer1', 'layer2', 'layer3']
    (out, ) = model(torch.rand(1, 3, 65, 67))
    assert out.shape == (1, 1024, 5, 5)
    # num_stages sizes strides, dilations and out_indices, as MMDetection's
    with pytest.raises(ValueError, match='num_stages'):
        rla.RLAResNet(depth=50, num_stages=5)
    with pytest.raises(ValueError, match='strides'):
        rla.RLAResNet(depth=50, num_stages=3)
    with pytest.raises(ValueError, match='out_indices'):
        rla.RLAResNet(
            depth=50,
            num_stages=3,
            strides=(1, 2, 2),
            dilations=(1, 1, 1),
            out_indices=(3, ))


def test_dcn_in_the_marked_stages():
    dcn = dict(type='DCNv2', deform_groups=1, fallback_on_stride=False)
    model = rla.RLAResNet(
        depth=50,
        rla_channel=4,
        base_channels=8,
        dcn=dcn,
        stage_with_dcn=(False, True, False, True))
    kinds = [
        type(getattr(model, n)[0].conv2).__name__ for n in model.res_layers
    ]
    assert kinds == [
        'Conv2d', 'ModulatedDeformConv2dPack', 'Conv2d',
        'ModulatedDeformConv2dPack'
    ]
    assert 'fallback_on_stride' in dcn  # the config dict is not changed
    outs = model(torch.rand(2, 3, 96, 96))
    sum(o.mean() for o in outs).backward()
    assert all(p.grad is not None for p in model.parameters())
    # fallback_on_stride=True keeps a plain conv2, as in MMDetection
    model = rla.RLAResNet(
        depth=50,
        rla_channel=4,
        base_channels=8,
        dcn=dict(dcn, fallback_on_stride=True),
        stage_with_dcn=(True, ) * 4)
    assert type(model.layer1[0].conv2).__name__ == 'Conv2d'
    with pytest.raises(ValueError, match='stage_with_dcn'):
        rla.RLAResNet(depth=50, dcn=dcn, stage_with_dcn=(True, True))
    with pytest.raises(ValueError, match='dcn needs bottleneck'):
        rla.RLAResNet(depth=18, dcn=dcn, stage_with_dcn=(True, ) * 4)
    with pytest.raises(ValueError, match='conv_cfg'):
        rla.RLAResNet(
            depth=50,
            dcn=dcn,
            stage_with_dcn=(True, ) * 4,
            conv_cfg=dict(type='Conv2d'))


def test_plugins_at_their_positions_and_stages():
    plugins = [
        dict(
            cfg=dict(type='ContextBlock', ratio=1. / 4),
            stages=(False, True, True, True),
            position='after_conv3'),
        dict(
            cfg=dict(
                type='GeneralizedAttention',
                spatial_range=-1,
                num_heads=2,
                attention_type='0010',
                kv_stride=2),
            stages=(False, False, True, False),
            position='after_conv2'),
    ]
    model = rla.RLAResNet(
        depth=50, rla_channel=4, base_channels=8, plugins=plugins)
    names = [(b.after_conv2_plugin_names, b.after_conv3_plugin_names)
             for b in (getattr(model, n)[0] for n in model.res_layers)]
    assert names == [([], []), ([], ['context_block']),
                     (['gen_attention_block'], ['context_block']),
                     ([], ['context_block'])]
    assert model.layer3[0].gen_attention_block.in_channels == 32
    assert model.layer2[0].context_block.in_channels == 16 * 4
    outs = model(torch.rand(2, 3, 64, 64))
    sum(o.mean() for o in outs).backward()
    with pytest.raises(ValueError, match='position'):
        rla.RLAResNet(
            depth=50,
            plugins=[
                dict(
                    cfg=dict(type='ContextBlock', ratio=0.25),
                    position='after_conv4')
            ])
    with pytest.raises(ValueError, match='stages'):
        rla.RLAResNet(
            depth=50,
            plugins=[
                dict(
                    cfg=dict(type='ContextBlock', ratio=0.25),
                    position='after_conv3',
                    stages=(True, True))
            ])
    with pytest.raises(ValueError, match='plugins needs bottleneck'):
        rla.RLAResNet(depth=18, plugins=plugins)


def test_drop_path_rises_over_the_blocks_and_is_off_in_eval():
    model = rla.RLAResNet(
        depth=50, rla_channel=4, base_channels=8, drop_path_rate=0.3)
    rates = [
        b.drop_path.drop_prob if b.drop_path is not None else 0.
        for n in model.res_layers for b in getattr(model, n)
    ]
    assert rates[0] == 0 and rates[-1] == pytest.approx(0.3)
    assert rates == sorted(rates) and len(rates) == 16
    plain = rla.RLAResNet(depth=50, rla_channel=4, base_channels=8)
    plain.load_state_dict(model.state_dict())
    x = torch.rand(2, 3, 64, 64)
    for a, b in zip(model.eval()(x), plain.eval()(x)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    model.train()
    torch.manual_seed(0)
    first = model(x)[-1]
    torch.manual_seed(1)
    assert not torch.equal(first, model(x)[-1])
    with pytest.raises(ValueError, match='drop_path_rate'):
        rla.RLAResNet(depth=50, drop_path_rate=1.5)


def test_expansion_of_mmpretrain():
    model = rla.RLAResNet(
        depth=50, rla_channel=4, base_channels=8, expansion=2)
    assert [
        getattr(model, n)[-1].conv3.out_channels for n in model.res_layers
    ] == [16, 32, 64, 128]
    with pytest.raises(ValueError, match='expansion'):
        rla.RLAResNet(depth=18, expansion=2)


def test_pretrained_is_deprecated_as_in_mmdetection(tmp_path):
    with pytest.warns(UserWarning, match='pretrained is deprecated'):
        model = rla.RLAResNet(depth=18, pretrained='x.pth')
    assert model.init_cfg == dict(type='Pretrained', checkpoint='x.pth')
    with pytest.raises(ValueError, match='init_cfg and pretrained'):
        rla.RLAResNet(
            depth=18,
            pretrained='x.pth',
            init_cfg=dict(type='Pretrained', checkpoint='y.pth'))
    with pytest.raises(TypeError, match='pretrained must be a str'):
        rla.RLAResNet(depth=18, pretrained=3)


def test_resnext_spellings():
    a = rla.RLAResNeXt(depth=50, groups=4, base_width=8, base_channels=16)
    b = rla.RLAResNeXt(depth=50, groups=4, width_per_group=8, base_channels=16)
    assert a.base_width == b.base_width == 8
    with pytest.raises(ValueError, match='base_width=8 and width_per_group=4'):
        rla.RLAResNeXt(depth=50, base_width=8, width_per_group=4)
    with pytest.raises(ValueError, match='invalid depth 18'):
        rla.RLAResNeXt(depth=18)
    # MMDetection's ResNeXt defaults to one group; MMPretrain's to 32x4d
    with DefaultScope.overwrite_default_scope('mmdet'):
        assert rla.RLAResNeXt(depth=50).groups == 1
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        assert rla.RLAResNeXt(depth=50).groups == 32


def test_se_twin_places_se_like_mmpretrain():
    model = rla.RLASEResNet(depth=50, rla_channel=4, se_ratio=8)
    block = model.layer2[0]
    assert block.se.fc1.out_features == 512 // 8
    with pytest.raises(ValueError, match='se_ratio'):
        rla.RLASEResNet(depth=50, se_ratio=0)


# -- plain checkpoints --------------------------------------------------------


@pytest.mark.parametrize(
    'make_plain,twin,kwargs', [
        (lambda: det.ResNet(depth=50), rla.RLAResNet, dict(depth=50)),
        (lambda: det.ResNetV1d(depth=18), rla.RLAResNetV1d, dict(depth=18)),
        (lambda: cls.ResNetV1d(depth=18, out_indices=(0, 1, 2, 3)),
         rla.RLAResNetV1d, dict(depth=18)),
        (lambda: __import__('torchvision').models.resnet50(), rla.RLAResNet,
         dict(depth=50)),
    ],
    ids=[
        'mmdet-resnet50', 'mmdet-resnetv1d18', 'mmpretrain-resnetv1d18',
        'torchvision-resnet50'
    ])
def test_plain_checkpoint_gives_the_plain_network_at_init(
        tmp_path, make_plain, twin, kwargs, caplog):
    plain = randomize_norms(make_plain())
    path = str(tmp_path / 'plain.pth')
    torch.save(plain.state_dict(), path)
    model = twin(
        init_cfg=dict(type='Pretrained', checkpoint=path),
        norm_eval=True,
        **kwargs)
    model.init_weights()
    model.eval()
    x = torch.rand(2, 3, 67, 61)
    with torch.no_grad():
        ours = model(x)
        if hasattr(plain, 'layer4') and not hasattr(plain, 'res_layers'):
            # torchvision's ResNet returns logits: run its stages
            t = plain.maxpool(plain.relu(plain.bn1(plain.conv1(x))))
            theirs = []
            for name in ('layer1', 'layer2', 'layer3', 'layer4'):
                t = getattr(plain, name)(t)
                theirs.append(t)
        else:
            theirs = plain(x)
    assert len(ours) == len(theirs) == 4
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # every RLA norm starts fresh and trains, even under norm_eval
    assert model.fresh_norms
    model.train()
    assert all(n.training for n in model.fresh_norms)
    assert not model.layer1[0].bn1.training


def test_fresh_rla_norms_under_frozen_bn_and_frozen_stages(tmp_path):
    plain = det.ResNet(depth=18)
    path = str(tmp_path / 'plain.pth')
    torch.save({'state_dict': plain.state_dict()}, path)
    frozen_bn = dict(type='BN', requires_grad=False)
    model = rla.RLAResNet(
        depth=18,
        norm_cfg=frozen_bn,
        norm_eval=True,
        frozen_stages=1,
        init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    model.train()
    # stage 1 stays frozen whole, RLA parts included
    for p in model.layer1.parameters():
        assert not p.requires_grad
    assert not any(m.training for m in model.layer1.modules())
    # the fresh RLA norms of the other stages train; the main path's stay
    # frozen
    for name in ('layer2', 'layer3'):
        stage = getattr(model, name)
        assert all(n.training and n.weight.requires_grad for n in stage.norms)
        assert not stage[0].bn1.training
        assert not stage[0].bn1.weight.requires_grad
    # an RLA checkpoint (every part present) changes nothing of that
    rla_ckpt = str(tmp_path / 'rla.pth')
    torch.save(model.state_dict(), rla_ckpt)
    again = rla.RLAResNet(
        depth=18,
        norm_cfg=frozen_bn,
        norm_eval=True,
        frozen_stages=1,
        init_cfg=dict(type='Pretrained', checkpoint=rla_ckpt))
    again.init_weights()
    again.train()
    assert not again.fresh_norms
    assert not any(n.training for n in again.layer2.norms)


def test_plain_checkpoint_log_line_names_what_started_fresh(tmp_path):
    from mmengine.logging import MMLogger
    plain = det.ResNet(depth=18)
    model = rla.RLAResNet(depth=18, out_indices=(3, ), cat_hidden=True)
    logger = MMLogger.get_current_instance()
    messages = []
    handler = __import__('logging').Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger.addHandler(handler)
    try:
        missing, unexpected = model.load_state_dict(
            plain.state_dict(), strict=False)
    finally:
        logger.removeHandler(handler)
    (line, ) = [m for m in messages if 'plain ResNet checkpoint' in m]
    assert '8 first convs given zero hidden-state channels' in line
    assert 'layer4.{conv_out,recurrent_conv,norms}' in line
    assert 'bn_hidden' in line
    assert unexpected == []
    assert all(
        any(
            p in k
            for p in ('norms', 'conv_out', 'recurrent_conv', 'bn_hidden'))
        for k in missing)


def test_rla_checkpoint_loads_without_rewriting():
    model = rla.RLAResNet(depth=18, rla_channel=4, base_channels=8)
    state = model.state_dict()
    other = rla.RLAResNet(depth=18, rla_channel=4, base_channels=8)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        other.load_state_dict(state)
    assert not other.fresh_norms
    for k, v in other.state_dict().items():
        assert torch.equal(v, state[k])
