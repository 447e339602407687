"""CIFAR backbones: pre-activation RLA-ResNets, the thin RLA-Xception, plain twins."""
import pytest
import torch

from rla_mm.configs import load_metafile
from rla_mm.models import (RLAPreActBasicBlock, RLAPreActBottleneck,
                           RLAPreActResNet, RLAStage, RLAXception,
                           RLAXceptionBlock)


def num_params(module):
    return sum(p.numel() for p in module.parameters())


def test_preact_basic_block_reads_x_and_h():
    block = RLAPreActBasicBlock(16, 16, rla_channel=4)
    # The pre-activation norm sees the concatenation [x, h].
    assert block.norm1.num_features == 20
    assert block.conv1.in_channels == 20
    x, h = torch.randn(2, 16, 8, 8), torch.randn(2, 4, 8, 8)
    out, y = block(x, h)
    assert out.shape == y.shape == (2, 16, 8, 8)
    # Identity shortcut: the block output is the branch plus the input.
    torch.testing.assert_close(out, y + x)
    # The branch depends on h.
    _, y2 = block(x, torch.zeros_like(h))
    assert not torch.allclose(y, y2)


def test_preact_bottleneck_strides_on_the_3x3_and_projects():
    down = torch.nn.Conv2d(16, 64, 1, stride=2, bias=False)
    block = RLAPreActBottleneck(16, 16, rla_channel=12, stride=2,
                                downsample=down)
    assert block.conv1.kernel_size == (1, 1) and block.conv1.stride == (1, 1)
    assert block.conv2.stride == (2, 2)
    out, y = block(torch.randn(1, 16, 32, 32), torch.randn(1, 12, 32, 32))
    assert out.shape == y.shape == (1, 64, 16, 16)


def test_plain_block_takes_no_hidden_state():
    block = RLAPreActBasicBlock(16, 16, rla_channel=0)
    x = torch.randn(1, 16, 8, 8)
    out, y = block(x, None)
    torch.testing.assert_close(out, y + x)


@pytest.mark.parametrize('depth,k,channels', [(20, 4, (16, 32, 64)),
                                              (164, 12, (64, 128, 256))])
def test_preact_resnet_output_shapes(depth, k, channels):
    model = RLAPreActResNet(depth=depth, rla_channel=k,
                            out_indices=(0, 1, 2)).eval()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [
        (2, channels[0], 32, 32), (2, channels[1], 16, 16),
        (2, channels[2] + k, 8, 8)]
    assert model.feat_dim == channels[2] + k


def test_preact_resnet_stage_structure():
    model = RLAPreActResNet(depth=110, rla_channel=4)
    for i in range(1, 4):
        stage = getattr(model, f'layer{i}')
        assert isinstance(stage, RLAStage)
        assert len(stage.blocks) == 18 and len(stage.norms) == 18
        assert stage.recurrent_conv.weight.shape == (4, 4, 3, 3)
    assert isinstance(model.layer1.blocks[0], RLAPreActBasicBlock)
    # The final hidden-state norm has the key of RLAResNet's and MobileNetV2's.
    assert 'bn_hidden.weight' in model.state_dict()
    assert isinstance(RLAPreActResNet(depth=164).layer1.blocks[0],
                      RLAPreActBottleneck)


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
    assert round(expected / 1e6, 2) == (1.73, 1.70, 1.80, 1.74)[
        (110, 164).index(depth) + 2 * (k > 0)]


def test_rla_channel_zero_builds_the_plain_network():
    plain = RLAPreActResNet(depth=20, rla_channel=0, cat_hidden=False)
    names = [n for n, _ in plain.named_parameters()]
    assert not any('conv_out' in n or 'recurrent_conv' in n or '.norms.' in n
                   or 'bn_hidden' in n for n in names)
    out = plain(torch.randn(1, 3, 32, 32))[0]
    assert out.shape == (1, 64, 8, 8)


def test_xception_block_and_shapes():
    block = RLAXceptionBlock(64, 128, rla_channel=12, stride=2)
    assert len(block.convs) == 2
    assert block.convs[0].depthwise.in_channels == 64 + 12
    out, y = block(torch.randn(1, 64, 32, 32), torch.randn(1, 12, 32, 32))
    assert out.shape == y.shape == (1, 128, 16, 16)
    middle = RLAXceptionBlock(128, 128, rla_channel=12)
    assert len(middle.convs) == 3 and middle.shortcut is None
    x = torch.randn(1, 128, 8, 8)
    out, y = middle(x, torch.randn(1, 12, 8, 8))
    torch.testing.assert_close(out, y + x)

    model = RLAXception().eval()
    assert [len(getattr(model, f'layer{i}').blocks) for i in (1, 2, 3)] == \
        [1, 9, 1]
    assert model(torch.randn(2, 3, 32, 32))[0].shape == (2, 1024 + 12, 4, 4)
    plain = RLAXception(rla_channel=0, cat_hidden=False)
    # The RLA parts of the default thin Xception, k = 12: the first conv of
    # every block reads 12 more channels (depthwise 9 + pointwise 128/256/512
    # weights per channel), conv_out and the recurrent conv per stage, one norm
    # per block and the final norm on h.
    extra = (12 * (9 + 128) + 12 * (9 + 256) * 9 + 12 * (9 + 512)
             + 12 * (128 + 256 + 512) + 3 * 12 * 12 * 9 + 2 * 12 * 11 + 2 * 12)
    assert num_params(model) - num_params(plain) == extra


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
    (dict(arch=((64, 0), )), 'arch blocks'),
    (dict(arch=((64, 1, 2), )), 'arch'),
    (dict(rla_channel=0), 'cat_hidden'),
    (dict(exit_channels=(0, )), 'exit_channels'),
])
def test_xception_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RLAXception(**kwargs)
