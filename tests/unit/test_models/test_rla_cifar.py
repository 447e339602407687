"""CIFAR backbones: pre-activation RLA-ResNets, the Table 9 RLA-Xception, plain
twins."""
import pytest
import torch

from rla_mm.configs import load_metafile
from rla_mm.models import (RLAPreActBasicBlock, RLAPreActBottleneck,
                           RLAPreActResNet, RLAStage, RLAXception,
                           RLAXceptionBlock)
from rla_mm.models.backbones.rla_xception import ARCH_CIFAR


def num_params(module):
    return sum(p.numel() for p in module.parameters())


def with_branch(block, x, h):
    """The block's output and its residual branch output y_t."""
    taps = {}
    return block(x, h, taps=taps), taps['branch']


def test_preact_basic_block_reads_x_and_h():
    block = RLAPreActBasicBlock(16, 16, rla_channel=4)
    # The pre-activation norm sees the concatenation [x, h].
    assert block.norm1.num_features == 20
    assert block.conv1.in_channels == 20
    x, h = torch.randn(2, 16, 8, 8), torch.randn(2, 4, 8, 8)
    out, y = with_branch(block, x, h)
    assert out.shape == y.shape == (2, 16, 8, 8)
    # Identity shortcut: the block output is the branch plus the input.
    torch.testing.assert_close(out, y + x)
    # The branch depends on h.
    _, y2 = with_branch(block, x, torch.zeros_like(h))
    assert not torch.allclose(y, y2)


def test_preact_bottleneck_strides_on_the_3x3_and_projects():
    down = torch.nn.Conv2d(16, 64, 1, stride=2, bias=False)
    block = RLAPreActBottleneck(
        16, 16, rla_channel=12, stride=2, downsample=down)
    assert block.conv1.kernel_size == (1, 1) and block.conv1.stride == (1, 1)
    assert block.conv2.stride == (2, 2)
    out, y = with_branch(block, torch.randn(1, 16, 32, 32),
                         torch.randn(1, 12, 32, 32))
    assert out.shape == y.shape == (1, 64, 16, 16)


def test_plain_block_takes_no_hidden_state():
    block = RLAPreActBasicBlock(16, 16, rla_channel=0)
    x = torch.randn(1, 16, 8, 8)
    out, y = with_branch(block, x, None)
    torch.testing.assert_close(out, y + x)


@pytest.mark.parametrize('depth,k,channels', [(20, 4, (16, 32, 64)),
                                              (164, 12, (64, 128, 256))])
def test_preact_resnet_output_shapes(depth, k, channels):
    model = RLAPreActResNet(
        depth=depth, rla_channel=k, out_indices=(0, 1, 2)).eval()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, channels[0], 32, 32),
                                              (2, channels[1], 16, 16),
                                              (2, channels[2] + k, 8, 8)]
    assert model.feat_dim == channels[2] + k


def test_preact_resnet_stage_structure():
    model = RLAPreActResNet(depth=110, rla_channel=4)
    for i in range(1, 4):
        stage = getattr(model, f'layer{i}')
        assert isinstance(stage, RLAStage)
        assert len(stage) == 18 and len(stage.norms) == 18
        assert stage.recurrent_conv.weight.shape == (4, 4, 3, 3)
    assert isinstance(model.layer1[0], RLAPreActBasicBlock)
    # The final hidden-state norm has the key of RLAResNet's and MobileNetV2's.
    assert 'bn_hidden.weight' in model.state_dict()
    assert isinstance(
        RLAPreActResNet(depth=164).layer1[0], RLAPreActBottleneck)


# CIFAR-10 heads (10 classes), counts from configs/metafile.yml. The plain
# counts are those of the pre-activation ResNets of He et al. (2016) with 1x1
# projection shortcuts: 1.73M and 1.70M.
@pytest.mark.parametrize('depth,k,config', [
    (110, 0, 'preact_resnet110_1xb128_cifar10.py'),
    (164, 0, 'preact_resnet164_1xb128_cifar10.py'),
    (110, 4, 'rla_resnet110_1xb128_cifar10.py'),
    (164, 12, 'rla_resnet164_1xb128_cifar10.py'),
])
def test_preact_resnet_parameter_counts(depth, k, config):
    model = RLAPreActResNet(depth=depth, rla_channel=k, cat_hidden=k > 0)
    head = model.feat_dim * 10 + 10
    expected = load_metafile()[config]['Metadata']['Parameters']
    assert num_params(model) + head == expected
    assert round(expected / 1e6,
                 2) == (1.73, 1.70, 1.80,
                        1.74)[(110, 164).index(depth) + 2 * (k > 0)]


def test_rla_channel_zero_builds_the_plain_network():
    plain = RLAPreActResNet(depth=20, rla_channel=0, cat_hidden=False)
    names = [n for n, _ in plain.named_parameters()]
    assert not any('conv_out' in n or 'recurrent_conv' in n or '.norms.' in n
                   or 'bn_hidden' in n for n in names)
    out = plain(torch.randn(1, 3, 32, 32))[0]
    assert out.shape == (1, 64, 8, 8)


def test_xception_residual_block_pools_first_and_projects():
    block = RLAXceptionBlock(64, (128, 128), rla_channel=12, stride=2)
    assert len(block.convs) == 2
    # h joins the input of the first separable conv only
    assert block.convs[0].depthwise.in_channels == 64 + 12
    assert block.convs[1].depthwise.in_channels == 128
    x, h = torch.randn(1, 64, 35, 35), torch.randn(1, 12, 35, 35)
    out, y = with_branch(block, x, h)
    # a 3x3 stride-2 average pool first: the convs run at 18x18
    assert out.shape == y.shape == (1, 128, 18, 18)
    pooled = torch.nn.functional.avg_pool2d(
        x, 3, 2, 1, count_include_pad=False)
    torch.testing.assert_close(out, y + block.shortcut(pooled))


def test_xception_block_activations():
    x, h = torch.randn(1, 8, 6, 6), torch.randn(1, 4, 6, 6)
    # pre-activated: the first ReLU is dropped after the stem
    with_relu = RLAXceptionBlock(8, (8, 8), rla_channel=4).eval()
    without = RLAXceptionBlock(8, (8, 8), rla_channel=4, first_relu=False)
    without.load_state_dict(with_relu.state_dict())
    without.eval()
    assert with_relu.shortcut is None
    out, y = with_branch(with_relu, x, h)
    torch.testing.assert_close(out, y + x)
    torch.testing.assert_close(
        with_relu(x.relu(), h.relu()), without(x.relu(), h.relu()))
    assert not torch.allclose(y, with_branch(without, x, h)[1])
    # the exit convs: post-activated, no shortcut, the output is the branch
    plain = RLAXceptionBlock(8, (16, 16), rla_channel=4, residual=False)
    assert plain.shortcut is None
    out, y = with_branch(plain, x, h)
    assert out is y and out.shape == (1, 16, 6, 6) and out.min() >= 0


def test_xception_follows_table_9():
    model = RLAXception(out_indices=tuple(range(6))).eval()
    assert [m.out_channels for m in model.stem if hasattr(m, 'out_channels')] \
        == [16, 32]
    stages = [getattr(model, name) for name in model.stage_names]
    assert [len(s) for s in stages] == [1, 1, 1, 8, 1, 1]
    assert [[len(b.convs) for b in s][0] for s in stages] == \
        [2, 2, 2, 3, 2, 2]
    assert [s[0].convs[-1].pointwise.out_channels for s in stages] == \
        [64, 128, 256, 256, 512, 512]
    # 1x1 projections where the width changes, none in the middle flow, and
    # Chollet's exit convs without a shortcut
    assert [s[0].shortcut is not None for s in stages] == \
        [True, True, True, False, True, False]
    assert [s[0].residual for s in stages] == [True] * 5 + [False]
    # one recurrent conv per resolution, a conv_out per stage
    recurrent = [s.recurrent_conv for s in stages]
    assert recurrent[0] is recurrent[1] is recurrent[2]
    assert recurrent[3] is recurrent[4] and recurrent[4] is not recurrent[5]
    assert recurrent[2] is not recurrent[3]
    outs = model(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape[1:]) for o in outs] == [(64, 32, 32), (128, 32, 32),
                                                  (256, 32, 32), (256, 16, 16),
                                                  (512, 16, 16),
                                                  (512 + 12, 8, 8)]


@pytest.mark.parametrize('k,config', [
    (0, 'xception_1xb128_cifar10.py'),
    (0, 'xception_1xb128_cifar100.py'),
    (12, 'rla_xception_1xb128_cifar10.py'),
    (12, 'rla_xception_1xb128_cifar100.py'),
])
def test_xception_parameter_counts(k, config):
    model = RLAXception(rla_channel=k, cat_hidden=k > 0)
    classes = 100 if 'cifar100' in config else 10
    expected = load_metafile()[config]['Metadata']['Parameters']
    assert num_params(model) + model.feat_dim * classes + classes == expected


def test_xception_rla_parameters_term_by_term():
    model, plain = RLAXception(), RLAXception(rla_channel=0, cat_hidden=False)
    # first separable conv of each of the 13 blocks reads 12 more channels
    # (depthwise 9 + pointwise width weights each), a conv_out per stage,
    # three recurrent convs, a norm per block and the norm on h
    first_convs = 12 * (9 + 64) + 12 * (9 + 128) + 10 * 12 * (9 + 256) \
        + 12 * (9 + 512)
    conv_outs = 12 * (64 + 128 + 256 + 256 + 512 + 512)
    assert num_params(model) - num_params(plain) == \
        first_convs + conv_outs + 3 * 12 * 12 * 9 + 13 * 2 * 12 + 2 * 12 \
        == 65532


def test_xception_without_the_third_entry_block_misses_table_2():
    # Table 9 as quoted without the [relu; sep 256; relu; sep 256] entry block:
    # 136,704 parameters short of the paper's 2.70M
    arch = tuple(stage for i, stage in enumerate(ARCH_CIFAR) if i != 2)
    short = RLAXception(arch=arch, rla_channel=0, cat_hidden=False)
    full = RLAXception(rla_channel=0, cat_hidden=False)
    assert short.layer3[0].shortcut is not None  # 128 -> 256
    missing = (128 * 9 + 128 * 256 + 512) + (256 * 9 + 256 * 256 + 512) \
        + (128 * 256 + 512)
    assert num_params(full) - num_params(short) == missing + 640 == 136704
    assert round((num_params(short) + 512 * 10 + 10) / 1e6, 2) == 2.57


@pytest.mark.parametrize('kwargs,name', [
    (dict(depth=50), 'depth'),
    (dict(depth=20, rla_channel=0), 'cat_hidden'),
])
def test_preact_bad_arguments_name_the_argument(kwargs, name):
    # Every invalid argument is refused with its name in the message.
    with pytest.raises(ValueError, match=name):
        RLAPreActResNet(**kwargs)


@pytest.mark.parametrize('kwargs,name', [
    (dict(arch=()), 'arch'),
    (dict(arch=(((64, ), 0, 1, True), )), 'arch blocks'),
    (dict(arch=(((64, ), 1, 2), )), 'arch'),
    (dict(arch=(((), 1, 1, True), )), 'arch widths'),
    (dict(arch=(((0, ), 1, 1, True), )), 'arch widths'),
    (dict(arch=(((64, ), 1, 3, True), )), 'arch stride'),
    (dict(arch=(((64, ), 1, 1, 'yes'), )), 'arch residual'),
    (dict(arch=(((64, ), 1, 2, True), )), 'first stage'),
    (dict(rla_channel=0), 'cat_hidden'),
])
def test_xception_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RLAXception(**kwargs)
