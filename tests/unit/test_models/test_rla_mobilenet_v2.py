import pytest
import torch

from rla_mm.models import RLAInvertedResidual, RLAMobileNetV2


def test_inverted_residual_concatenates_h_after_expansion():
    block = RLAInvertedResidual(16, 16, 1, expand_ratio=6, rla_channel=8)
    assert block.expand.conv.in_channels == 16
    assert block.depthwise.conv.in_channels == 96 + 8
    assert block.depthwise.conv.groups == 96 + 8
    x, taps = torch.randn(1, 16, 8, 8), {}
    out = block.eval()(x, torch.randn(1, 8, 8, 8), taps=taps)
    assert torch.allclose(out, x + taps['branch'])
    strided = RLAInvertedResidual(16, 24, 2, expand_ratio=6, rla_channel=8)
    out = strided(x, torch.randn(1, 8, 8, 8), taps=taps)
    assert out.shape == (1, 24, 4, 4) and out is taps['branch']
    # only strides 1 and 2
    with pytest.raises(ValueError, match='stride'):
        RLAInvertedResidual(16, 16, 3, expand_ratio=6, rla_channel=8)


def test_outputs_and_shared_recurrent_conv():
    model = RLAMobileNetV2(out_indices=tuple(range(8))).eval()
    feats = model(torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [16, 24, 32, 64, 96, 160, 320, 1280]
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 4, 2, 2, 2]
    convs = {
        id(getattr(model, f'layer{i}').recurrent_conv)
        for i in range(1, 8)
    }
    assert len(convs) == 1
    assert model.layer1.recurrent_conv.groups == 32


def test_one_recurrent_conv_per_resolution():
    model = RLAMobileNetV2(share_recurrent=False)
    convs = [getattr(model, f'layer{i}').recurrent_conv for i in range(1, 8)]
    assert len({id(c) for c in convs}) == 5
    assert convs[3] is convs[4] and convs[5] is convs[6]
    shared = RLAMobileNetV2()
    n = sum(p.numel() for p in model.parameters())
    n_shared = sum(p.numel() for p in shared.parameters())
    assert n - n_shared == 4 * 288


def test_detection_outputs_build_nothing_unread():
    # Nothing reads conv2, bn_hidden or layer7's hidden-state update here (the
    # fault of f67c099, where they were built and got no gradient under DDP).
    model = RLAMobileNetV2(
        rla_channel=8, out_indices=(1, 2, 4, 6), cat_hidden=False).train()
    assert not hasattr(model, 'conv2') and not hasattr(model, 'bn_hidden')
    assert len(model.layer7.norms) == 0 and model.layer7.conv_out is None
    outs = model(torch.randn(2, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [24, 32, 96, 320]
    sum(o.mean() for o in outs).backward()
    assert all(p.grad is not None for p in model.parameters())
    # Asking for them with the hidden state joined names the way out.
    with pytest.raises(ValueError, match='must contain it.*cat_hidden=False'):
        RLAMobileNetV2(rla_channel=8, out_indices=(1, 2, 4, 6))


def test_cat_hidden_false_closes_on_x_alone():
    model = RLAMobileNetV2(rla_channel=8, cat_hidden=False).eval()
    assert model.conv2.conv.in_channels == 320
    assert model(torch.randn(1, 3, 32, 32))[0].shape == (1, 1280, 1, 1)
    assert RLAMobileNetV2(rla_channel=8).conv2.conv.in_channels == 320 + 8


def test_eca_kernel_rule():
    model = RLAMobileNetV2(eca=True)
    sizes = [
        getattr(model, f'layer{i}')[0].eca.conv.kernel_size[0]
        for i in range(1, 8)
    ]
    assert sizes == [1, 1, 1, 1, 3, 3, 3]


@pytest.mark.parametrize('kwargs,name', [
    (dict(eca=(3, 3)), 'eca'),
    (dict(widen_factor=0), 'widen_factor'),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RLAMobileNetV2(**kwargs)


def test_joined_hidden_state_is_relu6_of_its_norm():
    model = RLAMobileNetV2(rla_channel=3, widen_factor=0.25).eval()
    assert model.hidden_act == 'relu6'
    x = torch.zeros(1, 2, 1, 1)
    h = torch.tensor([-1., 3., 7.]).view(1, 3, 1, 1)
    joined = model.join_hidden(x, h)  # bn_hidden at init: the identity
    expected = torch.tensor([0., 0., 0., 3., 6.])
    torch.testing.assert_close(joined.flatten(), expected, rtol=0, atol=1e-4)
    relu = RLAMobileNetV2(rla_channel=3, widen_factor=0.25, hidden_act='relu')
    assert relu.eval().join_hidden(x, h).flatten()[-1] > 6.99
