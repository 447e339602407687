"""The ablation options of RLAStage and of the backbones
(paper Tables 6, 11, 15)."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from rla_mm.models import (RLAMobileNetV2, RLAPreActBottleneck,
                           RLAPreActResNet, RLAResNet)
from rla_mm.models.layers import (ConvGRUCell, ConvLSTMCell, HiddenState,
                                  RLAStage, RLAVariant, match_hidden)


class _Block(nn.Module):
    """x + conv([x, h]) (or conv(x) without h); strides with an avg pool; its
    shortcut is the pooled input. Taps both, as the RLA blocks do."""
    rla_taps = ('branch', 'shortcut')

    def __init__(self, c, k, stride=1, with_cp=False):
        super().__init__()
        self.conv = nn.Conv2d(c + k, c, 1, bias=False)
        self.stride, self.with_cp = stride, with_cp

    def forward(self, x, h=None, taps=None):
        y = self.conv(x if h is None else torch.cat([x, h], 1))
        if self.stride == 2:
            y = F.avg_pool2d(y, 2, ceil_mode=True)
            x = F.avg_pool2d(x, 2, ceil_mode=True)
        if taps is not None:
            taps['branch'], taps['shortcut'] = y, x
        return torch.relu(x + y)


def stage_of(blocks, out_channels, k, rla_source='branch', **variant):
    return RLAStage(
        blocks,
        out_channels,
        k,
        rla_source=rla_source,
        variant=RLAVariant(**variant))


def run(stage, x, h):
    """The stage from state ``h``: its output and the state it leaves."""
    hidden = HiddenState(h)
    return stage(x, hidden), hidden.value


def _pair(**kwargs):
    """A two-block stage (the second strides) in eval mode, and its inputs."""
    torch.manual_seed(0)
    k = 0 if kwargs.get('rla_exchange') is False else 3
    stage = stage_of([_Block(6, k), _Block(6, k, stride=2)], 6, 3,
                     **kwargs).eval()
    for norm in stage.norms:  # non-trivial statistics
        norm.running_mean.uniform_(-0.2, 0.2)
        norm.running_var.uniform_(0.5, 1.5)
    return stage, torch.randn(2, 6, 9, 9), torch.randn(2, 3, 9, 9)


def _expected(stage, x, h, update):
    """Run the blocks by hand; ``update(index, s, state) -> state``."""
    for i, block in enumerate(stage):
        hidden = h[0] if isinstance(h, tuple) else h
        taps = {}
        x = block(x, hidden if stage.variant.rla_exchange else None, taps=taps)
        s = x if stage.rla_source == 'output' else taps[stage.rla_source]
        h = tuple(match_hidden(t, x) for t in h) if isinstance(h, tuple) \
            else match_hidden(h, x)
        h = update(i, s, h)
    return x, h


@pytest.mark.parametrize('source', ['branch', 'output', 'shortcut'])
@pytest.mark.parametrize('add', ['before', 'after'])
@pytest.mark.parametrize('act', ['pre', 'post'])
def test_wiring_of_the_conv_cell(source, add, act):
    # v1-v6 (source x add) and post-activation (act), Figure 4 and Table 6
    stage, x, h = _pair(rla_source=source, rla_add=add, rla_act=act)
    R, O = stage.recurrent_conv, stage.conv_out  # noqa: E741 (the paper's O)

    def update(i, s, h):
        norm = stage.norms[i]
        z = h + O(s) if add == 'before' else h
        z = R(torch.tanh(norm(z))) if act == 'pre' else \
            torch.tanh(norm(R(z)))
        return z + O(s) if add == 'after' else z

    out = run(stage, x, h)
    expected = _expected(stage, x, h, update)
    assert out[0].shape == (2, 6, 5, 5) and out[1].shape == (2, 3, 5, 5)
    assert torch.allclose(out[0], expected[0])
    assert torch.allclose(out[1], expected[1], atol=1e-6)


def test_the_options_change_the_update():
    results = {}
    for kwargs in (dict(), dict(rla_source='output'),
                   dict(rla_source='shortcut'), dict(rla_add='after'),
                   dict(rla_act='post')):
        stage, x, h = _pair(**kwargs)
        results[str(kwargs)] = run(stage, x, h)[1]
    values = list(results.values())
    for i in range(len(values)):
        for j in range(i):
            assert not torch.allclose(values[i], values[j])


def test_unshared_parts_per_block():
    # Table 6 (b) / Table 15: conv_out and R per block
    stage, x, h = _pair(rla_shared=False)
    assert isinstance(stage.conv_out, nn.ModuleList)
    assert len(stage.conv_out) == len(stage.recurrent_conv) == 2
    assert stage.conv_out[0] is not stage.conv_out[1]

    def update(i, s, h):
        return stage.recurrent_conv[i](
            torch.tanh(stage.norms[i](h + stage.conv_out[i](s))))

    out = run(stage, x, h)
    assert torch.allclose(out[1], _expected(stage, x, h, update)[1])
    # update_last=False builds neither part for the last block
    short = RLAStage([_Block(6, 3), _Block(6, 3)],
                     6,
                     3,
                     variant=RLAVariant(rla_shared=False),
                     update_last=False)
    assert len(short.conv_out) == len(short.recurrent_conv) == 1


def test_no_exchange_blocks_get_no_hidden_state():
    # Table 6 (c): h is updated but never fed back into the blocks
    stage, x, h = _pair(rla_exchange=False)
    assert stage[0].conv.in_channels == 6
    out_x, out_h = run(stage, x, h)
    # the main path does not depend on h at all
    assert torch.equal(out_x, run(stage, x, torch.randn_like(h))[0])
    assert out_h.shape == (2, 3, 5, 5)


def test_lstm_cell_carries_its_cell_state():
    # Table 6 (d): (h, c) = LSTM(tanh(BN(O(y))), (h, c))
    stage, x, h = _pair(rla_cell='lstm')
    cell = stage.recurrent_conv
    assert isinstance(cell, ConvLSTMCell)
    assert cell.conv.weight.shape == (12, 6, 3, 3) and cell.conv.bias is None
    c = torch.randn_like(h)
    out_x, (out_h, out_c) = run(stage, x, (h, c))

    def update(i, s, state):
        u = torch.tanh(stage.norms[i](stage.conv_out(s)))
        hh, cc = state
        gi, gf, go, gg = F.conv2d(
            torch.cat([u, hh], 1), cell.conv.weight, padding=1).split(3, 1)
        cc = torch.sigmoid(gf) * cc + torch.sigmoid(gi) * torch.tanh(gg)
        return torch.sigmoid(go) * torch.tanh(cc), cc

    ex, (eh, ec) = _expected(stage, x, (h, c), update)
    assert torch.allclose(out_h, eh, atol=1e-6)
    assert torch.allclose(out_c, ec, atol=1e-6)
    assert out_c.shape == (2, 3, 5, 5)


def test_gru_cell():
    stage, x, h = _pair(rla_cell='gru')
    cell = stage.recurrent_conv
    assert isinstance(cell, ConvGRUCell)
    assert cell.gate_conv.weight.shape == (6, 6, 3, 3)
    assert cell.output_conv.weight.shape == (3, 6, 3, 3)

    def update(i, s, hh):
        u = torch.tanh(stage.norms[i](stage.conv_out(s)))
        r, z = cell.gate_conv(torch.cat([u, hh], 1)).split(3, 1)
        r = torch.sigmoid(
            F.group_norm(r, 1, cell.reset_gate_norm.weight,
                         cell.reset_gate_norm.bias, 1e-6))
        z = torch.sigmoid(
            F.group_norm(z, 1, cell.update_gate_norm.weight,
                         cell.update_gate_norm.bias, 1e-6))
        n = torch.tanh(
            F.group_norm(
                cell.output_conv(torch.cat([u, r * hh], 1)), 1,
                cell.output_norm.weight, cell.output_norm.bias, 1e-6))
        return z * hh + (1 - z) * n

    assert torch.allclose(
        run(stage, x, h)[1], _expected(stage, x, h, update)[1], atol=1e-6)


def test_with_cp_keeps_the_lstm_state_and_gradients():
    torch.manual_seed(0)
    plain = stage_of([_Block(4, 2), _Block(4, 2)], 4, 2, rla_cell='lstm')
    ckpt = stage_of([_Block(4, 2, with_cp=True),
                     _Block(4, 2, with_cp=True)],
                    4,
                    2,
                    rla_cell='lstm')
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    state = (torch.randn(2, 2, 6, 6), torch.randn(2, 2, 6, 6))
    outs = [run(m, x, state) for m in (plain, ckpt)]
    assert torch.allclose(outs[0][1][1], outs[1][1][1])
    grads = []
    for (ox, (oh, oc)) in outs:
        g, = torch.autograd.grad((ox.sum() + oh.sum() + oc.sum()), x)
        grads.append(g)
    assert torch.allclose(grads[0], grads[1])


def test_stage_refuses_bad_variants():
    blocks = [_Block(4, 2)]
    # each option names itself and the bad value
    for kwargs, name in ((dict(rla_add='middle'),
                          'rla_add'), (dict(rla_act='mid'), 'rla_act'),
                         (dict(rla_cell='rnn'),
                          'rla_cell'), (dict(rla_shared=1), 'rla_shared'),
                         (dict(rla_exchange='no'), 'rla_exchange')):
        with pytest.raises(ValueError, match=name) as err:
            RLAVariant(**kwargs)
        assert repr(list(kwargs.values())[0]) in str(err.value)
    # gated cells read tanh(BN(O(y))): no 'after' / 'post' for them
    with pytest.raises(ValueError, match="rla_cell='lstm'.*rla_add='after'"):
        RLAVariant(rla_cell='lstm', rla_add='after')
    # a recurrent conv shared between stages is one conv, shared
    shared = nn.Conv2d(2, 2, 3, padding=1, bias=False)
    with pytest.raises(ValueError, match='rla_shared=False'):
        RLAStage(
            blocks,
            4,
            2,
            recurrent_conv=shared,
            variant=RLAVariant(rla_shared=False))

    # 'shortcut' needs blocks that tap their shortcut
    class NoShortcut(nn.Module):
        rla_taps = ('branch', )

        def forward(self, x, h=None, taps=None):
            return x

    with pytest.raises(ValueError, match='NoShortcut'):
        RLAStage([NoShortcut()], 4, 2, rla_source='shortcut')


def test_preact_bottleneck_taps_its_shortcut():
    torch.manual_seed(0)
    down = nn.Conv2d(8, 16, 1, stride=2, bias=False)
    block = RLAPreActBottleneck(8, 4, 2, stride=2, downsample=down).eval()
    x, h = torch.randn(1, 8, 7, 7), torch.randn(1, 2, 7, 7)
    taps = {}
    out = block(x, h, taps=taps)
    assert torch.equal(out, block(x, h))
    assert torch.allclose(taps['shortcut'], down(x))
    assert torch.allclose(out, taps['branch'] + taps['shortcut'])


# ---- backbones ----


def test_resnet_defaults_are_the_main_model():
    # every option at its default: the published RLA-ResNet (key layout and
    # count of the main model are pinned by the contract test's fixture)
    model = RLAResNet(
        depth=18, rla_channel=4, stem_channels=8, base_channels=8)
    stage = model.layer1
    assert stage.rla_source == 'output'
    assert stage.variant == RLAVariant() == RLAVariant(
        rla_add='before',
        rla_act='pre',
        rla_cell='conv',
        rla_shared=True,
        rla_exchange=True)


@pytest.mark.parametrize('kwargs', [
    dict(rla_cell='lstm', hidden_norm=False, hidden_act='none'),
    dict(rla_cell='gru', hidden_norm=False, hidden_act='none'),
    dict(rla_exchange=False),
    dict(rla_shared=False),
    dict(rla_source='shortcut', rla_add='after'),
    dict(rla_act='post', hidden_act='tanh')
])
def test_resnet_variants_at_odd_sizes(kwargs):
    model = RLAResNet(
        depth=50,
        rla_channel=4,
        stem_channels=8,
        base_channels=8,
        out_indices=(0, 1, 2, 3),
        cat_hidden=True,
        **kwargs)
    x = torch.randn(1, 3, 35, 37)
    outs = model(x)
    assert [o.shape[-2:] for o in outs] == [(9, 10), (5, 5), (3, 3), (2, 2)]
    assert outs[-1].shape[1] == 32 * 8 + 4
    outs[-1].sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_hidden_head_options():
    torch.manual_seed(0)
    kw = dict(
        depth=18,
        rla_channel=4,
        stem_channels=8,
        base_channels=8,
        out_indices=(3, ),
        cat_hidden=True)
    relu, tanh, raw = (
        RLAResNet(**kw, **extra).eval()
        for extra in (dict(), dict(hidden_act='tanh'),
                      dict(hidden_norm=False, hidden_act='none')))
    tanh.load_state_dict(relu.state_dict())
    assert not hasattr(raw, 'bn_hidden')
    assert 'bn_hidden.weight' in relu.state_dict()
    raw.load_state_dict({
        k: v
        for k, v in relu.state_dict().items() if not k.startswith('bn_hidden')
    })
    x = torch.randn(1, 3, 64, 64)
    a, b, c = relu(x)[0], tanh(x)[0], raw(x)[0]
    assert torch.equal(a[:, :64], b[:, :64]) and torch.equal(
        a[:, :64], c[:, :64])
    pre = b[:, 64:]
    assert (pre.abs() < 1).all() and (a[:, 64:] >= 0).all()
    assert not torch.allclose(c[:, 64:], a[:, 64:])


def test_extra_channels_widen_every_block():
    # Table 6 (a) / Table 12: the plain network, every block k wider
    model = RLAResNet(
        depth=50, rla_channel=0, extra_channels=32, out_indices=(0, 3))
    assert [i['num_chs'] for i in model.output_info] == [256 + 32, 2048 + 32]
    block = model.layer1[0]
    assert block.conv1.weight.shape == (72, 64, 1, 1)
    assert model.layer1.conv_out is None and len(model.layer1.norms) == 0
    cifar = RLAPreActResNet(
        depth=164, rla_channel=0, extra_channels=12, cat_hidden=False)
    assert cifar.layer1[0].conv1.weight.shape == (19, 16, 1, 1)
    assert cifar.feat_dim == 256 + 12
    with pytest.raises(ValueError, match='multiple .* 4, got 6'):
        RLAResNet(depth=50, rla_channel=0, extra_channels=6)
    with pytest.raises(ValueError, match='extra_channels .* got -4'):
        RLAPreActResNet(depth=164, rla_channel=0, extra_channels=-4)


def test_backbone_refuses_bad_variants():
    # the options are checked once, by the base class, naming the argument
    for kwargs, name in ((dict(rla_add='later'), 'rla_add'),
                         (dict(rla_cell='lstm', rla_act='post'),
                          'rla_act'), (dict(hidden_act='gelu'), 'hidden_act'),
                         (dict(hidden_norm='no'), 'hidden_norm')):
        with pytest.raises(ValueError, match=name):
            RLAResNet(depth=18, rla_channel=4, **kwargs)
    # MobileNetV2 shares one recurrent conv between stages: no ablation options
    with pytest.raises(
            ValueError, match="RLAMobileNetV2 .*'rla_shared': "
            'False'):
        RLAMobileNetV2(rla_channel=4, widen_factor=0.25, rla_shared=False)
    # the options need a hidden state: rla_channel=0 has none to join
    with pytest.raises(ValueError, match='cat_hidden=True needs'):
        RLAPreActResNet(depth=20, rla_channel=0, cat_hidden=True)
