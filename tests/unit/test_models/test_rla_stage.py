import pytest
import torch
import torch.nn as nn

from rla_mm.models.layers import (HiddenState, RLAStage, conv_block_input,
                                  init_hidden, match_hidden,
                                  upgrade_stage_keys)


class _ToyBlock(nn.Module):
    """Adds a 1x1 conv of [x, h] to x; strides with an avg pool. Taps its
    branch output, as the RLA blocks do."""
    rla_taps = ('branch', )

    def __init__(self, c, k, stride=1, with_cp=False):
        super().__init__()
        self.conv = nn.Conv2d(c + k, c, 1, bias=False)
        self.stride, self.k, self.with_cp = stride, k, with_cp

    def forward(self, x, h=None, taps=None):
        if h is None:
            h = x.new_zeros(x.shape[0], self.k, *x.shape[2:])
        y = self.conv(torch.cat([x, h], 1))
        if self.stride == 2:
            y = nn.functional.avg_pool2d(y, 2, ceil_mode=True)
            x = nn.functional.avg_pool2d(x, 2, ceil_mode=True)
        if taps is not None:
            taps['branch'] = y
        return torch.relu(x + y)


def run(stage, x, h):
    """The stage from state ``h``: its output and the state it leaves."""
    hidden = HiddenState(h)
    return stage(x, hidden), hidden.value


def test_init_hidden_follows_input():
    x = torch.randn(2, 8, 5, 7, dtype=torch.float64)
    h = init_hidden(x, 3)
    assert h.shape == (2, 3, 5, 7)
    assert h.dtype == torch.float64 and h.device == x.device
    assert torch.count_nonzero(h) == 0
    x_cl = torch.randn(2, 8, 5,
                       7).contiguous(memory_format=torch.channels_last)
    assert init_hidden(x_cl,
                       3).is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize('size,target', [((8, 8), (4, 4)), ((7, 9), (4, 5)),
                                         ((33, 65), (9, 17))])
def test_match_hidden_pools_to_any_size(size, target):
    h = torch.randn(1, 4, *size)
    x = torch.randn(1, 2, *target)
    out = match_hidden(h, x)
    assert out.shape[-2:] == target
    if size == (8, 8):
        # On even sizes it is the reference's floor-mode 2x2 average pool.
        assert torch.allclose(out, nn.functional.avg_pool2d(h, 2))


def test_match_hidden_refuses_a_larger_target():
    with pytest.raises(ValueError, match='cannot be pooled'):
        match_hidden(torch.randn(1, 4, 4, 4), torch.randn(1, 2, 8, 8))


def test_stage_applies_the_rla_update():
    torch.manual_seed(0)
    stage = RLAStage([_ToyBlock(6, 3), _ToyBlock(6, 3, stride=2)], 6, 3).eval()
    x, h = torch.randn(2, 6, 9, 9), torch.randn(2, 3, 9, 9)
    out_x, out_h = run(stage, x, h)
    # The same recurrence, step by step.
    ex, eh = x, h
    for block, norm in zip(stage, stage.norms):
        taps = {}
        ex = block(ex, eh, taps=taps)
        y = taps['branch']
        eh = match_hidden(eh, ex)
        eh = stage.recurrent_conv(torch.tanh(norm(eh + stage.conv_out(y))))
    assert out_x.shape == (2, 6, 5, 5) and out_h.shape == (2, 3, 5, 5)
    assert torch.allclose(out_x, ex) and torch.allclose(out_h, eh)


def test_stage_rla_source_output_feeds_block_output():
    torch.manual_seed(0)
    blocks = [_ToyBlock(4, 2)]
    a = RLAStage(blocks, 4, 2, rla_source='branch').eval()
    b = RLAStage(blocks, 4, 2, rla_source='output').eval()
    b.load_state_dict(a.state_dict())
    x, h = torch.randn(1, 4, 6, 6), torch.randn(1, 2, 6, 6)
    xa, ha = run(a, x, h)
    xb, hb = run(b, x, h)
    assert torch.equal(xa, xb)
    assert not torch.allclose(ha, hb)
    expected = b.recurrent_conv(torch.tanh(b.norms[0](h + b.conv_out(xb))))
    assert torch.allclose(hb, expected)


def test_stage_shares_parts_and_keeps_one_norm_per_block():
    stage = RLAStage([_ToyBlock(4, 2) for _ in range(3)], 4, 2)
    assert len(stage.norms) == 3
    assert stage.conv_out.weight.shape == (2, 4, 1, 1)
    assert stage.recurrent_conv.weight.shape == (2, 2, 3, 3)
    shared = nn.Conv2d(2, 2, 3, padding=1, groups=2, bias=False)
    s1 = RLAStage([_ToyBlock(4, 2)], 4, 2, recurrent_conv=shared)
    s2 = RLAStage([_ToyBlock(4, 2)], 4, 2, recurrent_conv=shared)
    assert s1.recurrent_conv is s2.recurrent_conv


def test_stage_rejects_bad_arguments():
    # a stage needs blocks
    with pytest.raises(ValueError, match='at least one block'):
        RLAStage([], 4, 2)
    # rla_source is 'branch' or 'output'
    with pytest.raises(ValueError, match='rla_source'):
        RLAStage([_ToyBlock(4, 2)], 4, 2, rla_source='input')


def test_stage_with_cp_matches_plain_forward_and_gradients():
    torch.manual_seed(0)
    plain = RLAStage([_ToyBlock(4, 2), _ToyBlock(4, 2)], 4, 2)
    ckpt = RLAStage([_ToyBlock(4, 2, with_cp=True) for _ in range(2)], 4, 2)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    h = torch.randn(2, 2, 6, 6)
    outs = [run(m, x, h) for m in (plain, ckpt)]
    grads = []
    for (ox, oh), m in zip(outs, (plain, ckpt)):
        gx, = torch.autograd.grad((ox.sum() + oh.sum()), [x],
                                  retain_graph=True)
        grads.append(
            (gx, torch.autograd.grad(ox.sum() + oh.sum(),
                                     m.conv_out.weight)[0]))
    assert torch.allclose(outs[0][0], outs[1][0])
    assert torch.allclose(outs[0][1], outs[1][1])
    assert torch.allclose(grads[0][0], grads[1][0])
    assert torch.allclose(grads[0][1], grads[1][1])


@pytest.mark.parametrize('kwargs', [
    dict(kernel_size=1),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, padding=2, dilation=2, bias=True),
])
def test_conv_block_input_equals_the_concatenation(kwargs):
    conv = nn.Conv2d(6 + 3, 5, **kwargs).double()
    x, h = torch.randn(2, 6, 7, 9).double(), torch.randn(2, 3, 7, 9).double()
    x.requires_grad_(True)
    expected = conv(torch.cat([x, h], 1))
    got = conv_block_input(conv, x, h)
    assert torch.allclose(got, expected, atol=1e-12)
    # gradients reach the one weight of the reference shape (C + k inputs)
    assert conv.weight.shape == (5, 9, kwargs['kernel_size'],
                                 kwargs['kernel_size'])
    g_expected = torch.autograd.grad(expected.sum(), (x, conv.weight))
    g_got = torch.autograd.grad(got.sum(), (x, conv.weight))
    for a, b in zip(g_got, g_expected):
        assert torch.allclose(a, b, atol=1e-12)


def test_conv_block_input_keeps_the_concatenation_for_other_convs():

    class CountingConv(nn.Conv2d):  # e.g. weight standardisation
        calls = []

        def forward(self, inp):
            self.calls.append(inp.shape[1])
            return super().forward(inp)

    conv = CountingConv(4 + 2, 3, 1)
    conv_block_input(conv, torch.randn(1, 4, 5, 5), torch.randn(1, 2, 5, 5))
    assert CountingConv.calls == [6]  # one call on the concatenated input


def test_stage_is_a_sequence_of_its_blocks():
    blocks = [_ToyBlock(4, 2) for _ in range(3)]
    stage = RLAStage(blocks, 4, 2)
    # indexed, sized and iterated as a ResNet layer: the blocks only
    assert len(stage) == 3
    assert list(stage) == blocks
    assert stage[0] is blocks[0] and stage[-1] is blocks[2]
    assert list(stage[1:]) == blocks[1:]
    with pytest.raises(IndexError, match='3 blocks'):
        stage[3]
    # keys number the blocks as a ResLayer does; the RLA parts beside them
    keys = list(stage.state_dict())
    assert [k for k in keys if k.endswith('.conv.weight')
            ] == ['0.conv.weight', '1.conv.weight', '2.conv.weight']
    assert {k.split('.')[0]
            for k in keys
            } == {'0', '1', '2', 'norms', 'conv_out', 'recurrent_conv'}


def test_hooks_on_blocks_and_stage_see_the_feature_maps():
    torch.manual_seed(0)
    stage = RLAStage([_ToyBlock(4, 2), _ToyBlock(4, 2, stride=2)], 4, 2)
    seen = []
    for module in (stage[0], stage[1], stage):
        module.register_forward_hook(lambda m, args, out: seen.append(out))
    x = torch.randn(1, 4, 7, 7)
    out, _ = run(stage, x, torch.randn(1, 2, 7, 7))
    assert all(isinstance(t, torch.Tensor) for t in seen)
    assert [tuple(t.shape) for t in seen] == [(1, 4, 7, 7), (1, 4, 4, 4),
                                              (1, 4, 4, 4)]
    # the stage's output is the last block's, and the next block read the
    # first block's output
    assert seen[2] is out and seen[1] is out


def test_a_forward_hook_that_replaces_a_block_output_is_obeyed():
    torch.manual_seed(0)
    stage = RLAStage([_ToyBlock(4, 2), _ToyBlock(4, 2)],
                     4,
                     2,
                     rla_source='output').eval()
    x, h = torch.randn(1, 4, 5, 5), torch.randn(1, 2, 5, 5)
    stage[1].register_forward_hook(lambda m, args, out: out * 0)
    out, state = run(stage, x, h)
    assert torch.count_nonzero(out) == 0
    # the RLA update read what the hook returned (the block output)
    mid = stage[0](x, h)
    h1 = stage.update(0, mid, h)
    assert torch.allclose(state, stage.update(1, out, h1))


def test_one_argument_call_starts_from_a_zero_state():
    torch.manual_seed(0)
    stage = RLAStage([_ToyBlock(4, 2), _ToyBlock(4, 2)], 4, 2).eval()
    x = torch.randn(2, 4, 9, 9)
    out = stage(x)
    assert isinstance(out, torch.Tensor)
    zero, _ = run(stage, x, torch.zeros(2, 2, 9, 9))
    assert torch.equal(out, zero)
    # with another state, the same stage computes something else
    other, _ = run(stage, x, torch.randn(2, 2, 9, 9))
    assert not torch.allclose(out, other)
    with pytest.raises(TypeError, match='HiddenState, got Tensor'):
        stage(x, torch.zeros(2, 2, 9, 9))


def test_old_block_keys_load():
    torch.manual_seed(0)
    stage = RLAStage([_ToyBlock(4, 2), _ToyBlock(4, 2)], 4, 2)
    # rla_mm 0.1 named the blocks blocks.i
    old = {
        (f'blocks.{k}' if k[0].isdigit() else k): v.clone() + 1
        for k, v in stage.state_dict().items()
    }
    assert 'blocks.1.conv.weight' in old
    fresh = RLAStage([_ToyBlock(4, 2), _ToyBlock(4, 2)], 4, 2)
    fresh.load_state_dict(old)
    assert torch.equal(fresh[1].conv.weight, old['blocks.1.conv.weight'])
    # the rename itself, under a prefix
    state = {
        'backbone.layer2.blocks.0.conv1.weight': 0,
        'backbone.layer2.norms.0.weight': 1
    }
    assert upgrade_stage_keys(state, 'backbone.layer2.') == 1
    assert sorted(state) == [
        'backbone.layer2.0.conv1.weight', 'backbone.layer2.norms.0.weight'
    ]


def test_blocks_must_tap_the_source():
    # 'shortcut' needs blocks that give their shortcut to the update
    with pytest.raises(ValueError, match="rla_source='shortcut' needs"):
        RLAStage([_ToyBlock(4, 2)], 4, 2, rla_source='shortcut')
