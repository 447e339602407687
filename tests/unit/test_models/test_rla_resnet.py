import pytest
import torch
import torch.nn as nn
from rla_testkit.checkout import REPO_ROOT

from rla_mm.models import (CLASSIFIER_FORM, RLABasicBlock, RLABottleneck,
                           RLAResNet, RLAResNetV1d, classifier_form)
from rla_mm.models.layers import HiddenState


def with_branch(block, x, h):
    """The block's output and its residual branch output y_t."""
    taps = {}
    return block(x, h, taps=taps), taps['branch']


def test_bottleneck_block():
    block = RLABottleneck(64, 16, rla_channel=8)
    x, h = torch.randn(2, 64, 8, 8), torch.randn(2, 8, 8, 8)
    out, y = with_branch(block, x, h)
    assert out.shape == (2, 64, 8, 8) and y.shape == (2, 64, 8, 8)
    assert block.conv1.in_channels == 64 + 8
    # out = relu(y + x): the branch output y comes before the addition
    assert torch.allclose(out, torch.relu(y + x))


def test_bottleneck_style_puts_the_stride():
    down = nn.Sequential(
        nn.Conv2d(64, 64, 1, stride=2, bias=False), nn.BatchNorm2d(64))
    pytorch = RLABottleneck(64, 16, rla_channel=8, stride=2, downsample=down)
    caffe = RLABottleneck(
        64, 16, rla_channel=8, stride=2, downsample=down, style='caffe')
    assert pytorch.conv1.stride == (1, 1) and pytorch.conv2.stride == (2, 2)
    assert caffe.conv1.stride == (2, 2) and caffe.conv2.stride == (1, 1)


def test_basic_block():
    block = RLABasicBlock(16, 16, rla_channel=4)
    out, y = with_branch(block, torch.randn(1, 16, 6, 6),
                         torch.randn(1, 4, 6, 6))
    assert out.shape == (1, 16, 6, 6) and y.shape == (1, 16, 6, 6)
    assert block.conv1.in_channels == 20
    # basic blocks have no groups or width
    with pytest.raises(ValueError, match='groups'):
        RLABasicBlock(16, 16, rla_channel=4, groups=2)


def test_block_attention_variants():
    eca = RLABottleneck(64, 16, rla_channel=8, eca_kernel=5)
    se = RLABottleneck(64, 16, rla_channel=8, se=16)
    assert eca.eca.conv.weight.shape == (1, 1, 5)
    assert se.se.fc1.weight.shape == (4, 64) and se.se.fc2.weight.shape == (64,
                                                                            4)
    for block in (eca, se):
        out = block(torch.randn(1, 64, 4, 4), torch.randn(1, 8, 4, 4))
        assert out.shape == (1, 64, 4, 4)


@pytest.mark.parametrize('depth,channels', [(18, (64, 128, 256, 512)),
                                            (50, (256, 512, 1024, 2048))])
def test_detection_outputs_drop_the_hidden_state(depth, channels):
    model = RLAResNet(depth, rla_channel=8).eval()
    feats = model(torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == list(channels)
    assert [f.shape[-1] for f in feats] == [16, 8, 4, 2]
    model = RLAResNet(depth, rla_channel=8, out_indices=(1, 3)).eval()
    feats = model(torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [channels[1], channels[3]]


def test_classification_output_concatenates_the_hidden_state():
    torch.manual_seed(0)
    model = RLAResNet(**classifier_form(depth=18, rla_channel=4))
    for p in model.bn_hidden.parameters():  # a norm that is not the identity
        nn.init.uniform_(p, -1, 1)
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    feat, = model(x)
    assert feat.shape == (2, 512 + 4, 2, 2) and model.feat_dim == 512 + 4
    # The same network run stage by stage: the last 4 channels are
    # relu(bn_hidden(h)) of the final hidden state, the others are x.
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    hidden = HiddenState(torch.zeros(2, 4, *x.shape[-2:]))
    for name in ('layer1', 'layer2', 'layer3', 'layer4'):
        x = getattr(model, name)(x, hidden)
    h = hidden.value
    bn = model.bn_hidden
    hidden = torch.relu((h - bn.running_mean[:, None, None]) /
                        torch.sqrt(bn.running_var[:, None, None] + bn.eps) *
                        bn.weight[:, None, None] + bn.bias[:, None, None])
    torch.testing.assert_close(feat[:, :512], x)
    torch.testing.assert_close(feat[:, 512:], hidden)
    assert hidden.abs().sum() > 0


def test_dtype_memory_format_and_autocast_follow_the_input():
    model = RLAResNet(18, rla_channel=4).eval()
    feats = model.double()(torch.randn(1, 3, 32, 32, dtype=torch.float64))
    assert all(f.dtype == torch.float64 for f in feats)
    model = model.float().to(memory_format=torch.channels_last)
    x = torch.randn(1, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    ref = RLAResNet(18, rla_channel=4).eval()
    ref.load_state_dict(model.state_dict())
    with torch.no_grad():
        out_cl, out = model(x), ref(x.contiguous())
        assert all(
            torch.allclose(a, b, atol=1e-5) for a, b in zip(out_cl, out))
        with torch.autocast('cpu', dtype=torch.bfloat16):
            feats = model(x)
    assert all(f.dtype == torch.bfloat16 for f in feats)
    assert all(torch.isfinite(f.float()).all() for f in feats)


def test_norm_cfg_reaches_the_rla_norms():
    model = RLAResNet(
        18,
        rla_channel=8,
        norm_cfg=dict(type='GN', num_groups=4, requires_grad=True))
    norms = [n for i in range(1, 5) for n in getattr(model, f'layer{i}').norms]
    assert len(norms) == 7  # the unread last update of layer4 is skipped
    assert all(isinstance(n, nn.GroupNorm) for n in norms)
    assert model(torch.randn(1, 3, 32, 32))[0].shape == (1, 64, 8, 8)


def test_zero_init_residual(tmp_path):
    model = RLAResNet(50, rla_channel=4)
    model.init_weights()
    for i in range(1, 5):
        for block in getattr(model, f'layer{i}'):
            assert torch.count_nonzero(block.bn3.weight) == 0
            assert torch.count_nonzero(block.bn2.weight) > 0
    # not zeroed when the weights come from a checkpoint
    src = RLAResNet(18, rla_channel=4)
    for p in src.parameters():
        nn.init.constant_(p, 0.5)
    path = tmp_path / 'bb.pth'
    torch.save(dict(state_dict=src.state_dict()), path)
    model = RLAResNet(
        18,
        rla_channel=4,
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    assert torch.all(model.layer1[0].bn2.weight == 0.5)
    model = RLAResNet(18, rla_channel=4, zero_init_residual=False)
    model.init_weights()
    assert torch.all(model.layer1[0].bn2.weight == 1)


def test_resnet_d_and_resnext_variants():
    model = RLAResNetV1d(depth=50, rla_channel=8).eval()
    assert isinstance(model.layer2[0].downsample[0], nn.AvgPool2d)
    assert len(model.stem) == 9
    assert model(torch.randn(1, 3, 65, 63))[3].shape == (1, 2048, 3, 2)
    model = RLAResNet(50, rla_channel=8, groups=32, base_width=4)
    assert model.layer1[0].conv2.groups == 32
    assert model.layer1[0].conv2.in_channels == 128


@pytest.mark.parametrize('kwargs,name', [
    (dict(depth=42), 'depth'),
    (dict(depth=50, eca=(5, 5, 7)), 'eca'),
    (dict(depth=50, eca=(5, 5, 4, 7)), 'eca'),
    (dict(depth=50, se=0), 'se'),
    (dict(depth=50, style='tensorflow'), 'style'),
    (dict(depth=50, strides=(1, 2, 2)), 'strides'),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RLAResNet(**kwargs)


def test_unknown_keyword_is_not_ignored():
    with pytest.raises(TypeError, match='with_dcn'):
        RLAResNet(50, with_dcn=True)


def test_classifier_form_is_the_imagenet_configs_backbone():
    from mmengine.config import Config
    backbone = Config.fromfile(
        f'{REPO_ROOT}/configs/_base_/models/rla_resnet50_in1k.py'
    ).model.backbone
    assert {k: backbone[k] for k in CLASSIFIER_FORM} == CLASSIFIER_FORM
    assert classifier_form(
        depth=50, eca=True) == dict(
            depth=50, eca=True, out_indices=(3, ), cat_hidden=True)
    # the form's own arguments are not overridden through it
    with pytest.raises(TypeError, match=r"sets \['out_indices'\] itself"):
        classifier_form(depth=50, out_indices=(0, 3))
