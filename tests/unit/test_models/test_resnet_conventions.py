"""What MMDetection's and MMPretrain's ResNet-family unit tests check, held on
the RLA twins, behaviour by behaviour.

Each test names, in a comment, the library test whose rule it mirrors:
MMDetection 3.3 ``tests/test_models/test_backbones/test_resnet.py`` and
``test_renext.py``; MMPretrain 1.2 ``tests/test_models/test_backbones/``
``test_resnet.py``, ``test_resnext.py``, ``test_seresnet.py``,
``test_seresnext.py`` and ``test_resnet_cifar.py``. The tests are our own, on
their tiny widths (``base_channels`` 1 to 8, 32-pixel inputs). Where RLA
changes a rule by definition (a block's first conv reads C + k channels, a
block takes ``rla_channel``), the expectation says so.
"""
import inspect

import mmcv.ops  # noqa: F401  (registers DCN)
import mmdet.models.backbones as det
import mmpretrain.models.backbones as cls
import pytest
import torch
import torch.nn as nn
from mmcv.ops import DeformConv2dPack
from mmengine.registry import DefaultScope
from torch.nn.modules.batchnorm import _BatchNorm

import rla_mm.models as rla
from rla_mm.models import RLABasicBlock, RLABottleneck

K = 4  # the hidden channels of every twin here


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Tiny tensors: on a shared machine, threads only wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def norms_in_mode(modules, training: bool) -> bool:
    """Whether every BN among ``modules`` is in train mode ``training`` (the
    libraries' ``check_norm_state``)."""
    return all(m.training == training for m in modules
               if isinstance(m, _BatchNorm))


def all_zero(norm: nn.Module) -> bool:
    """Whether a norm's weight and bias are all zeros."""
    return all(torch.count_nonzero(p) == 0 for p in (norm.weight, norm.bias))


def stages(model) -> list:
    return [getattr(model, name) for name in model.res_layers]


def shapes(feats) -> list:
    return [tuple(f.shape) for f in feats]


def forward(model, side: int = 32, batch: int = 2):
    torch.manual_seed(0)
    return shapes(model(torch.randn(batch, 3, side, side)))


# -- strides and style ----------------------------------------------------


@pytest.mark.parametrize('style', ['pytorch', 'caffe'])
def test_style_puts_the_stride_of_each_strided_stage(style):
    # MMDetection test_resnet_bottleneck, MMPretrain test_bottleneck and
    # test_seresnet test_bottleneck ("Bottleneck style"): a strided pytorch
    # bottleneck strides on its 3x3 conv2, a caffe one on its 1x1 conv1;
    # the other blocks of the stage do not stride (MMPretrain
    # test_bottleneck_reslayer: layer[0].stride == 2, layer[i].stride == 1)
    model = rla.RLAResNet(
        50, base_channels=2, rla_channel=K, style=style).train()
    for stage, stride in zip(stages(model), (1, 2, 2, 2)):
        first = (1, stride) if style == 'pytorch' else (stride, 1)
        assert (stage[0].conv1_stride, stage[0].conv2_stride) == first
        assert (stage[0].conv1.stride, stage[0].conv2.stride) == \
            tuple((s, s) for s in first)
        assert stage[0].stride == stride
        for block in list(stage)[1:]:
            assert block.stride == 1
            assert block.conv1.stride == block.conv2.stride == (1, 1)
    # the style moves the stride, not the output sizes
    assert forward(model) == [(2, 8, 8, 8), (2, 16, 4, 4), (2, 32, 2, 2),
                              (2, 64, 1, 1)]
    # MMDetection's BasicBlock: its first 3x3 conv strides in either style
    basic = rla.RLAResNet(
        18, base_channels=2, rla_channel=K, style=style).train()
    assert [s[0].conv1.stride for s in stages(basic)] == \
        [(1, 1), (2, 2), (2, 2), (2, 2)]
    assert forward(basic) == [(2, 2, 8, 8), (2, 4, 4, 4), (2, 8, 2, 2),
                              (2, 16, 1, 1)]


def test_strides_and_dilations_per_stage():
    # MMDetection test_resnet_backbone ("len(strides) == len(dilations) ==
    # num_stages"): one stride and one dilation per stage; a dilated stage
    # pads its 3x3 convs by the dilation and keeps the resolution
    model = rla.RLAResNet(
        50,
        base_channels=2,
        rla_channel=K,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2)).train()
    for block in model.layer4:
        assert block.conv2.dilation == block.conv2.padding == (2, 2)
    assert all(b.conv2.dilation == (1, 1) for b in model.layer3)
    assert forward(model) == [(2, 8, 8, 8), (2, 16, 4, 4), (2, 32, 2, 2),
                              (2, 64, 2, 2)]


# -- dcn and plugins ------------------------------------------------------

DCN = dict(type='DCN', deform_groups=1, fallback_on_stride=False)


def test_dcn_is_conv2_of_a_bottleneck():
    # MMDetection test_resnet_bottleneck ("Bottleneck DCN") and test_renext
    # test_renext_bottleneck: with dcn, conv2 is mmcv's deformable conv
    block = RLABottleneck(64, 16, K, dcn=DCN)
    assert isinstance(block.conv2, DeformConv2dPack) and block.with_dcn
    assert type(block.conv1) is nn.Conv2d and block.conv1.in_channels == 68
    x = torch.randn(1, 64, 8, 8)
    assert block(x, torch.randn(1, K, 8, 8)).shape == (1, 64, 8, 8)
    # ResNeXt's grouped conv2 (MMDetection's BottleneckX(64, 64, dcn=dcn))
    block = RLABottleneck(64, 64, K, groups=32, base_width=4, dcn=DCN)
    assert isinstance(block.conv2, DeformConv2dPack)
    assert block.conv2.groups == 32 and block.conv2.out_channels == 128
    assert not RLABottleneck(64, 16, K).with_dcn


def test_dcn_in_every_block_of_the_marked_stages():
    # MMDetection test_resnet_backbone (stage_with_dcn): every block of a
    # marked stage, and only those, has the deformable conv2
    model = rla.RLAResNet(
        50,
        base_channels=2,
        rla_channel=K,
        dcn=DCN,
        stage_with_dcn=(False, True, True, False)).eval()
    for stage, marked in zip(stages(model), (False, True, True, False)):
        for block in stage:
            assert block.with_dcn is marked
            assert isinstance(block.conv2, DeformConv2dPack) is marked
    # a 64-pixel input: the deformable conv needs maps of 3x3 or more
    assert forward(
        model, side=64, batch=1) == [(1, 8, 16, 16), (1, 16, 8, 8),
                                     (1, 32, 4, 4), (1, 64, 2, 2)]


def context(ratio=1. / 16, **kwargs) -> dict:
    return dict(type='ContextBlock', ratio=ratio, **kwargs)


GEN_ATTENTION = dict(
    type='GeneralizedAttention',
    spatial_range=-1,
    num_heads=8,
    attention_type='0010',
    kv_stride=2)


def test_plugins_of_a_bottleneck_at_their_positions():
    # MMDetection test_resnet_bottleneck: a plugin reads the channels of its
    # position (after_conv1 and after_conv2: the width, after_conv3: the
    # output) and is named by its type and postfix
    plugins = [
        dict(cfg=GEN_ATTENTION, position='after_conv2'),
        dict(cfg=dict(type='NonLocal2d'), position='after_conv2'),
        dict(cfg=context(postfix=1), position='after_conv1'),
        dict(cfg=context(postfix=2), position='after_conv3'),
        dict(cfg=context(postfix=3), position='after_conv3'),
    ]
    block = RLABottleneck(64, 16, K, plugins=plugins)
    assert block.with_plugins
    assert block.gen_attention_block.in_channels == 16
    assert block.nonlocal_block.in_channels == 16
    assert block.context_block1.in_channels == 16
    assert block.context_block2.in_channels == 64
    assert block.context_block3.in_channels == 64
    assert block.after_conv1_plugin_names == ['context_block1']
    assert block.after_conv2_plugin_names == [
        'gen_attention_block', 'nonlocal_block'
    ]
    assert block.after_conv3_plugin_names == [
        'context_block2', 'context_block3'
    ]
    x = torch.randn(1, 64, 8, 8)
    assert block(x, torch.randn(1, K, 8, 8)).shape == (1, 64, 8, 8)
    # MMDetection test_renext_bottleneck: a grouped bottleneck takes a
    # plugin dict that still names its stages
    block = RLABottleneck(
        64,
        16,
        K,
        groups=32,
        base_width=4,
        plugins=[
            dict(
                cfg=GEN_ATTENTION,
                stages=(False, False, True, True),
                position='after_conv2')
        ])
    assert block.gen_attention_block.in_channels == block.mid_channels == 32
    assert block(x).shape == (1, 64, 8, 8)  # alone: a zero hidden state
    assert not RLABottleneck(64, 16, K).with_plugins


def test_plugins_in_every_block_of_their_stages():
    # MMDetection test_resnet_backbone (plugins with and without stages, at
    # base_channels=8): every block of a selected stage has the plugin, the
    # blocks of the other stages have none
    plugins = [
        dict(
            cfg=GEN_ATTENTION,
            stages=(False, True, True, True),
            position='after_conv2'),
        dict(cfg=dict(type='NonLocal2d'), position='after_conv2'),
        dict(
            cfg=context(),
            stages=(False, True, True, False),
            position='after_conv3'),
    ]
    model = rla.RLAResNet(
        50, base_channels=8, rla_channel=K, plugins=plugins).train()
    for i, stage in enumerate(stages(model)):
        width = 8 * 2**i
        for block in stage:
            assert block.nonlocal_block.in_channels == width
            assert hasattr(block, 'gen_attention_block') == (i > 0)
            if i > 0:
                assert block.gen_attention_block.in_channels == width
            assert hasattr(block, 'context_block') == (i in (1, 2))
            if i in (1, 2):
                assert block.context_block.in_channels == 4 * width
    assert forward(model) == [(2, 32, 8, 8), (2, 64, 4, 4), (2, 128, 2, 2),
                              (2, 256, 1, 1)]
    # two plugins of one type, told apart by their postfix
    model = rla.RLAResNet(
        50,
        base_channels=8,
        rla_channel=K,
        plugins=[
            dict(
                cfg=context(postfix=n),
                stages=(False, True, True, False),
                position='after_conv3') for n in (1, 2)
        ])
    for i, stage in enumerate(stages(model)):
        for block in stage:
            assert not hasattr(block, 'context_block')
            for name in ('context_block1', 'context_block2'):
                assert hasattr(block, name) == (i in (1, 2))
                if i in (1, 2):
                    assert getattr(block, name).in_channels == 32 * 2**i


# -- frozen stages and norm_eval ------------------------------------------

# (twin, its arguments, the stem's modules as the libraries name them)
FROZEN_CASES = [
    ('RLAResNet', dict(depth=50), ('conv1', 'norm1')),
    ('RLAResNetV1d', dict(depth=50), ('stem', )),
    ('RLAResNetV1c', dict(depth=18), ('stem', )),
    ('RLAResNeXt', dict(depth=50, groups=2,
                        width_per_group=2), ('conv1', 'norm1')),
    ('RLASEResNet', dict(depth=50, se_ratio=2), ('conv1', 'norm1')),
    ('RLAResNet_CIFAR', dict(depth=18, stem_channels=2), ('conv1', 'norm1')),
]


@pytest.mark.parametrize(
    'name,kwargs,stem', FROZEN_CASES, ids=[c[0] for c in FROZEN_CASES])
def test_frozen_stages_freeze_the_stem_and_the_first_stages(
        name, kwargs, stem):
    # MMDetection test_resnet_backbone, MMPretrain test_resnet,
    # test_resnet_v1c, test_resnet_v1d, test_seresnet and test_resnet_cifar
    # ("with first stage frozen"): after train(), the stem and layer1 have
    # their norms in eval mode and no trainable parameter; the RLA parts of
    # layer1 freeze with it; layer2 on trains
    model = getattr(rla, name)(
        **kwargs, base_channels=2, rla_channel=K, frozen_stages=1)
    model.train()
    for part in stem:
        module = getattr(model, part)
        assert norms_in_mode(module.modules(), False)
        assert not any(p.requires_grad for p in module.parameters())
    if 'norm1' in stem:
        assert model.norm1.training is False
    if stem == ('stem', ):
        assert len(model.stem) == 9  # MMDetection's deep stem
    assert norms_in_mode(model.layer1.modules(), False)
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert {n.split('.')[0]
            for n, _ in model.layer1.named_parameters()
            } >= {'conv_out', 'recurrent_conv', 'norms'}
    for stage in stages(model)[1:]:
        assert norms_in_mode(stage.modules(), True)
        assert all(p.requires_grad for p in stage.parameters())


@pytest.mark.parametrize(
    'name,kwargs', [c[:2] for c in FROZEN_CASES],
    ids=[c[0] for c in FROZEN_CASES])
def test_norm_eval_keeps_every_norm_in_eval_mode(name, kwargs):
    # MMDetection test_resnet_backbone, MMPretrain test_resnet and
    # test_seresnet ("norm_eval=True"): after train(), every BN is in eval
    # mode, the RLA norms too (they start with the rest, no plain
    # checkpoint: see test_rla_dropin for the fresh ones); the model itself
    # trains
    twin = getattr(rla, name)
    model = twin(**kwargs, base_channels=2, rla_channel=K, norm_eval=True)
    model.train()
    assert model.training
    assert norms_in_mode(model.modules(), False)
    model = twin(**kwargs, base_channels=2, rla_channel=K, norm_eval=False)
    model.train()
    assert norms_in_mode(model.modules(), True)


def test_norm_eval_default_follows_the_building_library():
    # MMDetection test_resnet_backbone trains ResNet-18 on one 32-pixel image,
    # whose 1x1 last maps a BN in train mode refuses: its default
    # norm_eval=True keeps them in eval mode; MMPretrain's default is False
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = rla.RLAResNet(18, base_channels=2, rla_channel=K)
    model.train()
    assert norms_in_mode(model.modules(), False)
    assert forward(
        model, batch=1) == [(1, 2, 8, 8), (1, 4, 4, 4), (1, 8, 2, 2),
                            (1, 16, 1, 1)]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = rla.RLAResNet(18, base_channels=2, rla_channel=K)
    model.train()
    assert norms_in_mode(model.modules(), True)


# -- zero_init_residual ---------------------------------------------------

ZERO_INIT_CASES = [
    ('RLAResNet', dict(depth=18), 'norm2'),
    ('RLAResNet', dict(depth=50), 'norm3'),
    ('RLAResNeXt', dict(depth=50, groups=2, width_per_group=2), 'norm3'),
    ('RLASEResNet', dict(depth=50, se_ratio=2), 'norm3'),
    ('RLAResNet_CIFAR', dict(depth=18, stem_channels=2), 'norm2'),
]


@pytest.mark.parametrize(
    'name,kwargs,last',
    ZERO_INIT_CASES,
    ids=[f'{c[0]}-{c[1]["depth"]}' for c in ZERO_INIT_CASES])
def test_zero_init_residual_zeroes_the_last_norm_of_each_block(
        name, kwargs, last):
    # MMDetection test_resnet_backbone and MMPretrain test_resnet,
    # test_seresnet ("zero initialization of residual"): after init_weights,
    # the last norm of every block (norm3 of a bottleneck, norm2 of a basic
    # block) has zero weight and bias; the other norms do not; with
    # zero_init_residual=False none is zero (MMPretrain's "non-zero")
    twin = getattr(rla, name)
    model = twin(**kwargs, base_channels=2, rla_channel=K)
    model.init_weights()
    blocks = [b for s in stages(model) for b in s]
    assert len(blocks) == sum(model.stage_blocks)
    for block in blocks:
        assert getattr(block, last) is block.last_norm
        assert all_zero(block.last_norm)
        assert not all_zero(block.norm1)
    # with the residual branches at zero, a block without projection passes
    # its (non-negative) input through
    model.eval()
    x = torch.relu(torch.randn(1, model.layer1[1].in_channels, 8, 8))
    torch.testing.assert_close(model.layer1[1](x), x)
    model = twin(
        **kwargs, base_channels=2, rla_channel=K, zero_init_residual=False)
    model.init_weights()
    assert not any(all_zero(b.last_norm) for s in stages(model) for b in s)


def test_zero_init_residual_leaves_pretrained_weights(tmp_path):
    # MMDetection's and MMPretrain's ResNet.init_weights: the zeroing is part
    # of the default init, not applied over a Pretrained init_cfg
    kwargs = dict(
        groups=2,
        width_per_group=2,
        se_ratio=2,
        base_channels=2,
        rla_channel=K)
    source = rla.RLASEResNeXt(50, **kwargs)
    with torch.no_grad():
        for m in source.modules():
            if isinstance(m, _BatchNorm):
                m.weight.fill_(0.5)
    path = tmp_path / 'twin.pth'
    torch.save(dict(state_dict=source.state_dict()), path)
    model = rla.RLASEResNeXt(
        50, init_cfg=dict(type='Pretrained', checkpoint=str(path)), **kwargs)
    model.init_weights()
    for stage in stages(model):
        for block in stage:
            assert torch.all(block.norm3.weight == 0.5)


# -- stems and output shapes ----------------------------------------------


def test_the_7x7_stem_and_the_outputs():
    # MMDetection test_resnet_backbone ("ResNet50 with BatchNorm forward",
    # "layers 1, 2, 3 out"): a 7x7 stride-2 conv, a max-pool, four stages of
    # 4x base_channels x 2**i channels at strides 4 to 32
    model = rla.RLAResNet(50, base_channels=1, rla_channel=K).train()
    assert model.conv1.kernel_size == (7, 7) and model.conv1.stride == (2, 2)
    assert model.maxpool.stride == 2
    assert forward(model) == [(2, 4, 8, 8), (2, 8, 4, 4), (2, 16, 2, 2),
                              (2, 32, 1, 1)]
    model = rla.RLAResNet(
        50, base_channels=1, rla_channel=K, out_indices=(0, 1, 2)).train()
    assert forward(model) == [(2, 4, 8, 8), (2, 8, 4, 4), (2, 16, 2, 2)]
    # MMPretrain test_resnet ("layers 3 (top feature maps) out")
    model = rla.RLAResNet(
        50, base_channels=1, rla_channel=K, out_indices=(3, )).train()
    assert forward(model) == [(2, 32, 1, 1)]
    # MMDetection test_resnet_backbone ("ResNet18 forward")
    model = rla.RLAResNet(18, base_channels=2, rla_channel=K).train()
    assert forward(model) == [(2, 2, 8, 8), (2, 4, 4, 4), (2, 8, 2, 2),
                              (2, 16, 1, 1)]


def test_stem_channels():
    # MMDetection test_resnest_stem: stem_channels sizes conv1, norm1 and
    # the input of layer1 (whose first conv reads k more: the hidden state)
    model = rla.RLAResNet(50, stem_channels=3, base_channels=2, rla_channel=K)
    assert model.stem_channels == 3
    assert model.conv1.out_channels == model.norm1.num_features == 3
    assert model.layer1[0].in_channels == model.layer1[0].inplanes == 3
    assert model.layer1[0].conv1.in_channels == 3 + K
    # its default: MMDetection's is base_channels, MMPretrain's 64
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = rla.RLAResNet(50, base_channels=3, rla_channel=K)
    assert model.stem_channels == model.conv1.out_channels == 3
    assert model.norm1.num_features == 3
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = rla.RLAResNet(50, base_channels=3, rla_channel=K)
    assert model.stem_channels == model.conv1.out_channels == 64


@pytest.mark.parametrize('twin', ['RLAResNetV1c', 'RLAResNetV1d'])
def test_the_deep_stem(twin):
    # MMDetection test_resnest_stem ("V1d stem_channels") and
    # test_resnet_backbone ("ResNetV1d forward"), MMPretrain test_resnet_v1c
    # and test_resnet_v1d: three 3x3 convs, the first strided, of
    # stem_channels / 2, stem_channels / 2 and stem_channels; the stem
    # halves the input. The twins keep MMDetection's layout (conv, norm,
    # relu three times: 9 modules) in every scope; MMPretrain's is three
    # ConvModules (a plain checkpoint of either loads: plain_init)
    model = getattr(rla, twin)(
        50, stem_channels=6, base_channels=2, rla_channel=K).train()
    stem = model.stem
    assert len(stem) == 9
    assert [stem[i].out_channels for i in (0, 3, 6)] == [3, 3, 6]
    assert [stem[i].num_features for i in (1, 4, 7)] == [3, 3, 6]
    assert [stem[i].stride for i in (0, 3, 6)] == [(2, 2), (1, 1), (1, 1)]
    assert all(isinstance(stem[i], nn.ReLU) for i in (2, 5, 8))
    assert model.layer1[0].in_channels == 6
    assert stem(torch.randn(2, 3, 32, 32)).shape == (2, 6, 16, 16)
    assert forward(model) == [(2, 8, 8, 8), (2, 16, 4, 4), (2, 32, 2, 2),
                              (2, 64, 1, 1)]


def test_the_cifar_stem_and_defaults():
    # MMPretrain test_resnet_cifar: a 3x3 stride-1 conv without max-pool, so
    # layer1 works at the input's 32x32; deep_stem is refused (see the bad
    # arguments); MMPretrain's defaults: the last stage out, stem of 64,
    # norms that train
    model = rla.RLAResNet_CIFAR(18)
    assert model.out_indices == (3, ) and model.stem_channels == 64
    assert model.norm_eval is False and not hasattr(model, 'maxpool')
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    model = rla.RLAResNet_CIFAR(
        18,
        stem_channels=8,
        base_channels=8,
        rla_channel=K,
        out_indices=(0, 1, 2, 3)).train()
    assert model.conv1(torch.randn(2, 3, 32, 32)).shape == (2, 8, 32, 32)
    assert forward(model) == [(2, 8, 32, 32), (2, 16, 16, 16), (2, 32, 8, 8),
                              (2, 64, 4, 4)]
    model = rla.RLAResNet_CIFAR(
        50,
        stem_channels=2,
        base_channels=2,
        rla_channel=K,
        out_indices=(0, 1, 2, 3)).train()
    assert forward(model) == [(2, 8, 32, 32), (2, 16, 16, 16), (2, 32, 8, 8),
                              (2, 64, 4, 4)]


def test_family_outputs():
    # MMDetection test_resnext_backbone, MMPretrain test_resnext,
    # test_seresnet and test_seresnext (forward of every output): the same
    # four widths and strides as the ResNet of that depth
    want = [(2, 8, 8, 8), (2, 16, 4, 4), (2, 32, 2, 2), (2, 64, 1, 1)]
    builds = (lambda **kw: rla.RLAResNeXt(50, 2, 2, **kw),
              lambda **kw: rla.RLASEResNet(50, 2, **kw),
              lambda **kw: rla.RLASEResNeXt(50, 2, 2, se_ratio=2, **kw))
    for build in builds:
        model = build(base_channels=2, rla_channel=K).train()
        assert forward(model) == want, type(model).__name__
        model = build(base_channels=2, rla_channel=K, out_indices=(3, ))
        assert forward(model.train()) == want[-1:]


# -- block attributes -----------------------------------------------------

DET_ATTRIBUTES = ('inplanes', 'planes', 'stride', 'dilation', 'style',
                  'with_cp', 'conv1_stride', 'conv2_stride', 'with_dcn',
                  'with_plugins')
CLS_ATTRIBUTES = ('in_channels', 'mid_channels', 'out_channels', 'expansion',
                  'stride', 'dilation', 'style', 'with_cp')


def attributes(model, names) -> list:
    return [{
        n: getattr(b, n)
        for n in names if hasattr(b, n)
    } for s in stages(model) for b in s]


@pytest.mark.parametrize('depth', [18, 50])
@pytest.mark.parametrize('style', ['pytorch', 'caffe'])
def test_block_attributes_are_the_libraries(depth, style):
    # MMDetection test_resnet_bottleneck, test_resnet_basic_block and
    # test_resnet_backbone ("checkpoint forward": every block's with_cp);
    # MMPretrain test_basic_block, test_bottleneck and its ResLayer tests
    # (in_channels, mid_channels, out_channels, stride): each block of the
    # twin has the attributes of the same block of the library's ResNet
    kwargs = dict(base_channels=2, stem_channels=4, style=style, with_cp=True)
    ours = rla.RLAResNet(depth, rla_channel=K, **kwargs)
    theirs = det.ResNet(depth, **kwargs)
    want = attributes(theirs, DET_ATTRIBUTES)
    assert attributes(ours, want[-1].keys()) == want
    if depth == 50:
        assert set(want[-1]) == set(DET_ATTRIBUTES)
    theirs = cls.ResNet(depth, **kwargs)
    want = attributes(theirs, CLS_ATTRIBUTES)
    assert set(want[-1]) == set(CLS_ATTRIBUTES)
    assert attributes(ours, CLS_ATTRIBUTES) == want
    # MMPretrain: conv2 of a bottleneck maps mid_channels to mid_channels
    for block in (b for s in stages(ours) for b in s):
        assert block.conv2.out_channels == block.mid_channels
        assert block.conv1.in_channels == block.in_channels + K


def test_resnext_block_widths_are_the_libraries():
    # MMPretrain test_resnext and test_seresnext test_bottleneck: a grouped
    # bottleneck's mid_channels is its conv2 width, groups x width per group
    # at the first stage's base_channels, doubling with the stage
    kwargs = dict(base_channels=8, stem_channels=8, with_cp=True)
    ours = rla.RLASEResNeXt(50, 4, 4, rla_channel=K, **kwargs)
    theirs = cls.SEResNeXt(50, groups=4, width_per_group=4, **kwargs)
    assert attributes(ours, CLS_ATTRIBUTES) == \
        attributes(theirs, CLS_ATTRIBUTES)
    assert [s[0].mid_channels for s in stages(ours)] == [16, 32, 64, 128]
    assert all(b.conv2.groups == 4 for s in stages(ours) for b in s)


def test_se_squeeze_width_is_mmpretrains():
    # MMPretrain test_seresnet test_selayer ("different ratio") and
    # test_res_layer (se_ratio=8, 16): the SE gate of each block squeezes
    # its output to out_channels / se_ratio, as MMPretrain's SELayer where
    # that is a multiple of 8 (every full-size SE-ResNet; MMPretrain rounds
    # to a multiple of 8, at least 8, where ours refuses a ratio above the
    # channels). Ours is bias-free (the authors' SE, docs/dropin.md)
    for ratio in (2, 4):
        ours = rla.RLASEResNet(
            50, ratio, base_channels=8, stem_channels=8, rla_channel=K)
        theirs = cls.SEResNet(50, ratio, base_channels=8, stem_channels=8)
        assert [b.se.fc1.out_features for s in stages(ours) for b in s] == \
            [b.se_layer.conv1.conv.out_channels
             for s in stages(theirs) for b in s]
        assert ours.layer1[0].se.fc1.out_features == 32 // ratio


def test_with_cp_blocks_run():
    # MMDetection test_resnet_basic_block, test_resnet_bottleneck and
    # MMPretrain test_basic_block, test_bottleneck ("with checkpoint"): a
    # with_cp block says so and runs (alone on a zero hidden state; in a
    # stage, the stage checkpoints it with its RLA update), and so does a
    # with_cp backbone
    x = torch.randn(1, 8, 8, 8, requires_grad=True)
    for block in (RLABasicBlock(8, 8, K, with_cp=True),
                  RLABottleneck(8, 2, K, with_cp=True)):
        assert block.with_cp
        assert block(x).shape == (1, 8, 8, 8)
    model = rla.RLAResNet(50, base_channels=1, rla_channel=K, with_cp=True)
    assert all(b.with_cp for s in stages(model) for b in s)
    assert forward(model.train()) == [(2, 4, 8, 8), (2, 8, 4, 4),
                                      (2, 16, 2, 2), (2, 32, 1, 1)]


# -- stage indexing -------------------------------------------------------


def test_stages_index_like_a_reslayer():
    # MMDetection test_resnet_res_layer and MMPretrain
    # test_basicblock_reslayer, test_bottleneck_reslayer, test_seresnet
    # test_res_layer: a stage has
    # len(), [i], [-1] and iteration over its blocks, and only its blocks
    model = rla.RLAResNet(50, base_channels=2, stem_channels=8, rla_channel=K)
    for stage, num in zip(stages(model), (3, 4, 6, 3)):
        assert len(stage) == num
        blocks = list(stage)
        assert blocks == [stage[i] for i in range(num)]
        assert stage[-1] is blocks[-1] and stage[0] is blocks[0]
        assert all(type(b) is RLABottleneck for b in blocks)
        assert stage.conv_out not in blocks
        # the blocks chain: the first reads the stage input, the others the
        # stage width
        out = blocks[0].out_channels
        assert all(b.in_channels == out for b in blocks[1:])
        assert all(b.out_channels == out for b in blocks)
    with pytest.raises(IndexError):
        model.layer4[3]


@pytest.mark.parametrize('twin', ['RLAResNet', 'RLAResNetV1d'])
def test_only_the_first_block_projects(twin):
    # MMDetection test_resnet_res_layer and MMPretrain's ResLayer tests
    # ("with downsample", "with stride=2", "average downsample"): the first
    # block of a stage that changes width or size projects its shortcut with
    # a 1x1 conv and a norm; under avg_down (ResNetV1d) a strided one pools
    # first and its conv does not stride; the other blocks have no
    # projection
    model = getattr(rla, twin)(
        50, base_channels=2, stem_channels=4, rla_channel=K)
    for i, stage in enumerate(stages(model)):
        down = stage[0].downsample
        stride = 1 if i == 0 else 2
        pooled = model.avg_down and stride == 2
        # a stride-1 projection (layer1) does not pool, as in MMPretrain;
        # MMDetection's ResLayer puts an AvgPool2d(1), an identity, there
        assert len(down) == 2 + pooled
        if pooled:
            assert isinstance(down[0], nn.AvgPool2d) and down[0].stride == 2
        conv, norm = down[int(pooled)], down[int(pooled) + 1]
        assert isinstance(conv, nn.Conv2d) and isinstance(norm, _BatchNorm)
        assert conv.kernel_size == (1, 1)
        assert conv.stride == ((1, 1) if pooled else (stride, stride))
        assert conv.in_channels == stage[0].in_channels
        assert conv.out_channels == norm.num_features == 8 * 2**i
        assert all(b.downsample is None for b in list(stage)[1:])
    # a basic stage whose width and size stay has no projection at all
    model = getattr(rla, twin)(
        18, base_channels=2, stem_channels=2, rla_channel=K)
    assert model.layer1[0].downsample is None
    assert model.layer2[0].downsample is not None


# -- bad arguments --------------------------------------------------------


def plugin(position='after_conv3', **kwargs) -> dict:
    return dict(cfg=context(ratio=1. / 4), position=position, **kwargs)


# (id, the call, the exception classes it must be, words of our message);
# where the libraries assert, the twins raise an AssertionError that is also
# our ValueError (TypeError for a wrong type); where they raise KeyError (an
# unknown depth), a KeyError that is also a ValueError
BAD = [
    ('depth', lambda: rla.RLAResNet(20), (KeyError, ValueError),
     'invalid depth 20 for RLAResNet'),
    ('resnext-depth', lambda: rla.RLAResNeXt(depth=18), (KeyError, ValueError),
     'invalid depth 18 for RLAResNeXt'),
    ('seresnet-depth', lambda: rla.RLASEResNet(20), (KeyError, ValueError),
     'invalid depth 20'),
    ('seresnext-depth', lambda: rla.RLASEResNeXt(depth=18),
     (KeyError, ValueError), 'invalid depth 18'),
    ('cifar-depth', lambda: rla.RLAResNet_CIFAR(20), (KeyError, ValueError),
     'invalid depth 20'),
    ('num_stages-0', lambda: rla.RLAResNet(50, num_stages=0),
     (AssertionError, ValueError), 'num_stages must be an int in [1, 4], '
     'got 0'),
    ('num_stages-5', lambda: rla.RLAResNet(50, num_stages=5),
     (AssertionError, ValueError), 'num_stages'),
    ('strides',
     lambda: rla.RLAResNet(50, strides=(1, ), dilations=(1, 1), num_stages=3),
     (AssertionError, ValueError), 'strides must have num_stages = 3'),
    ('dilations', lambda: rla.RLAResNet(
        50, strides=(1, 2, 2), dilations=(1, 1), num_stages=3),
     (AssertionError, ValueError), 'dilations must have num_stages = 3'),
    ('out_indices', lambda: rla.RLAResNet(
        50,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(3, )), (AssertionError, ValueError), 'out_indices'),
    ('style', lambda: rla.RLAResNet(50, style='tensorflow'),
     (AssertionError, ValueError), "style must be one of ('pytorch', "
     "'caffe'), got 'tensorflow'"),
    ('block-style', lambda: RLABottleneck(64, 16, K, style='tensorflow'),
     (AssertionError, ValueError), 'style'),
    ('resnext-block-style', lambda: RLABottleneck(
        64, 64, K, groups=32, base_width=4, style='tensorflow'),
     (AssertionError, ValueError), 'style'),
    ('stage_with_dcn',
     lambda: rla.RLAResNet(50, dcn=DCN, stage_with_dcn=(True, )),
     (AssertionError, ValueError),
     'stage_with_dcn must have num_stages = 4 entries, got (True,)'),
    ('dcn-type',
     lambda: rla.RLAResNet(50, dcn='DCN', stage_with_dcn=(True, ) * 4),
     (AssertionError, TypeError), 'dcn'),
    ('dcn-conv_cfg',
     lambda: RLABottleneck(64, 64, K, dcn=DCN, conv_cfg=dict(type='Conv')),
     (AssertionError, ValueError), 'conv_cfg must be None with dcn'),
    ('resnext-dcn-conv_cfg', lambda: RLABottleneck(
        64,
        64,
        K,
        groups=32,
        base_width=4,
        dcn=DCN,
        conv_cfg=dict(type='Conv')), (AssertionError, ValueError), 'conv_cfg'),
    ('basic-dcn', lambda: RLABasicBlock(64, 64, K, dcn=DCN),
     (AssertionError, ValueError), 'dcn needs bottleneck blocks'),
    ('basic-plugins', lambda: RLABasicBlock(64, 64, K, plugins=[plugin()]),
     (AssertionError, ValueError), 'plugins needs bottleneck blocks'),
    ('basic-gen-attention', lambda: RLABasicBlock(
        64, 64, K, plugins=[dict(cfg=GEN_ATTENTION, position='after_conv2')]),
     (AssertionError, ValueError), 'plugins'),
    ('backbone-basic-dcn',
     lambda: rla.RLAResNet(18, dcn=DCN, stage_with_dcn=(True, ) * 4),
     (AssertionError, ValueError), 'dcn'),
    ('plugin-stages',
     lambda: rla.RLAResNet(50, plugins=[plugin(stages=(False, True, True))]),
     (AssertionError, ValueError), 'plugin stages must have num_stages = 4'),
    ('plugin-position',
     lambda: rla.RLAResNet(50, plugins=[plugin('after_conv4')]),
     (AssertionError, ValueError),
     "plugin position must be one of ('after_conv1', 'after_conv2', "
     "'after_conv3'), got 'after_conv4'"),
    ('block-plugin-position',
     lambda: RLABottleneck(64, 16, K, plugins=[plugin('after_conv4')]),
     (AssertionError, ValueError), 'after_conv4'),
    ('plugin-names',
     lambda: RLABottleneck(64, 16, K, plugins=[plugin(), plugin()]),
     (AssertionError,
      ValueError), "two plugins of a block are named 'context_block'"),
    ('backbone-plugin-names', lambda: rla.RLAResNet(
        50, base_channels=4, plugins=[plugin(), plugin()]),
     (AssertionError, ValueError), 'postfix'),
    ('init_cfg-and-pretrained', lambda: rla.RLAResNet(
        18,
        pretrained='a.pth',
        init_cfg=dict(type='Pretrained', checkpoint='b.pth')),
     (AssertionError, ValueError), 'init_cfg and pretrained cannot be set'),
    ('pretrained-0', lambda: rla.RLAResNet(50, pretrained=0), (TypeError, ),
     'pretrained must be a str or None, got 0'),
    ('cifar-deep_stem', lambda: rla.RLAResNet_CIFAR(18, deep_stem=True),
     (AssertionError, ValueError), 'deep_stem=True'),
    ('basic-expansion', lambda: RLABasicBlock(64, 64, K, expansion=2),
     (AssertionError, ValueError), 'expansion=2'),
    ('expansion-type', lambda: rla.RLAResNet(50, expansion='0'), (TypeError, ),
     'expansion'),
]


@pytest.mark.parametrize(
    'build,classes,message', [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_arguments_raise_the_libraries_class_and_ours(
        build, classes, message):
    # MMDetection test_resnet_backbone, test_resnet_bottleneck,
    # test_resnet_basic_block, test_renext; MMPretrain test_resnet,
    # test_basic_block, test_resnext, test_seresnet, test_seresnext,
    # test_resnet_cifar: the same call fails under each library's
    # pytest.raises and under ours
    for error in classes:
        with pytest.raises(error) as info:
            build()
    # str() is our message, naming argument and value (a KeyError's would
    # be its quoted repr)
    text = str(info.value)
    assert message in text
    assert text == info.value.args[0]


def test_an_unknown_plugin_is_a_key_error():
    # MMDetection test_resnet_bottleneck ("Plugin type is not supported"):
    # mmcv's registry lookup raises KeyError
    with pytest.raises(KeyError):
        RLABottleneck(
            64,
            16,
            K,
            plugins=[
                dict(cfg=dict(type='WrongPlugin'), position='after_conv3')
            ])


# -- the constructor as the libraries have it -----------------------------

TINY_ARGS = dict(base_channels=2, stem_channels=2, rla_channel=K)


@pytest.mark.parametrize(
    'call,depth,block', [
        (lambda: rla.RLAResNet(18, **TINY_ARGS), 18, RLABasicBlock),
        (lambda: rla.RLAResNetV1c(18, **TINY_ARGS), 18, RLABasicBlock),
        (lambda: rla.RLAResNetV1d(50, **TINY_ARGS), 50, RLABottleneck),
        (lambda: rla.RLAResNeXt(50, **TINY_ARGS), 50, RLABottleneck),
        (lambda: rla.RLASEResNet(50, se_ratio=2, **TINY_ARGS), 50,
         RLABottleneck),
        (lambda: rla.RLASEResNeXt(50, se_ratio=2, **TINY_ARGS), 50,
         RLABottleneck),
        (lambda: rla.RLAResNet_CIFAR(18, **TINY_ARGS), 18, RLABasicBlock),
    ],
    ids=[
        'RLAResNet', 'RLAResNetV1c', 'RLAResNetV1d', 'RLAResNeXt',
        'RLASEResNet', 'RLASEResNeXt', 'RLAResNet_CIFAR'
    ])
def test_depth_is_the_first_positional_argument(call, depth, block):
    # MMPretrain test_resnet, test_seresnet (ResNet(20), SEResNet(50, ...))
    # and MMDetection test_resnet_backbone (ResNet(50, ...)): depth comes
    # first, positionally
    model = call()
    assert model.depth == depth
    assert all(type(b) is block for s in stages(model) for b in s)


@pytest.mark.parametrize(
    'ours,theirs', [
        (rla.RLAResNet, cls.ResNet),
        (rla.RLAResNeXt, cls.ResNeXt),
        (rla.RLASEResNet, cls.SEResNet),
        (rla.RLASEResNeXt, cls.SEResNeXt),
        (rla.RLAResNet_CIFAR, cls.ResNet_CIFAR),
    ],
    ids=lambda c: c.__name__)
def test_positional_order_is_mmpretrains(ours, theirs):
    # MMPretrain's constructors: ResNet(depth, in_channels, stem_channels,
    # ...), ResNeXt(depth, groups, width_per_group), SEResNet(depth,
    # se_ratio), ResNet_CIFAR(depth, deep_stem): the twins take their named
    # arguments in the same order (and more after them)
    def named(klass):
        return [
            p.name for p in inspect.signature(klass).parameters.values()
            if p.kind is p.POSITIONAL_OR_KEYWORD
        ]

    want = named(theirs)
    assert named(ours)[:len(want)] == want


def test_resnext_widths_scale_with_base_channels():
    # MMDetection's and MMPretrain's ResNeXt (the behaviour 3):
    # conv2 of a stage is groups x width_per_group x planes / base_channels
    # wide, so groups=32, width 4 at base_channels=32 gives 128, 256, 512,
    # 1024, as both libraries' ResNeXt-50
    want = [128, 256, 512, 1024]
    kwargs = dict(groups=32, base_channels=32, stem_channels=32)
    libraries = (det.ResNeXt(depth=50, base_width=4, **kwargs),
                 cls.ResNeXt(50, width_per_group=4, **kwargs))
    for theirs in libraries:
        assert [s[0].conv2.out_channels for s in stages(theirs)] == want
    twins = (rla.RLAResNeXt(50, base_width=4, rla_channel=K, **kwargs),
             rla.RLASEResNeXt(50, width_per_group=4, rla_channel=K, **kwargs))
    for ours in twins:
        assert [s[0].conv2.out_channels for s in stages(ours)] == want
        assert [s[0].mid_channels for s in stages(ours)] == want
        assert all(b.conv2.groups == 32 for s in stages(ours) for b in s)
    # MMDetection's ResNeXt defaults to one group: widths are the planes
    with DefaultScope.overwrite_default_scope('mmdet'):
        ours = rla.RLAResNeXt(50, base_channels=32, rla_channel=K)
    theirs = det.ResNeXt(depth=50, base_channels=32)
    assert [s[0].conv2.out_channels for s in stages(ours)] == \
        [s[0].conv2.out_channels for s in stages(theirs)] == \
        [32, 64, 128, 256]
