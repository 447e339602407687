"""rla_mm.visualization: record_hidden and knock_out, the hooks on RLAStage."""
import pytest
import torch
import torch.nn as nn

from rla_mm.models import RLAMobileNetV2, RLAResNet
from rla_mm.models.backbones import RLAPreActResNet
from rla_mm.models.layers import RLAStage
from rla_mm.visualization import knock_out, record_hidden, rla_stages

VARIANTS = {
    'paper': dict(),
    'unshared': dict(rla_shared=False),
    'lstm': dict(rla_cell='lstm'),
    'gru': dict(rla_cell='gru'),
    'add_after': dict(rla_add='after'),
    'post_act': dict(rla_act='post'),
    'after_post': dict(rla_add='after', rla_act='post'),
    'no_exchange': dict(rla_exchange=False),
    'output_source': dict(rla_source='output'),
}


def resnet(**kwargs):
    torch.manual_seed(0)
    model = RLAResNet(depth=18, rla_channel=8, **kwargs)
    with torch.no_grad():  # BN statistics away from the identity
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model.eval()


def hook_counts(model):
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks)
        for m in model.modules())


def stage_io(model):
    """What every RLA stage receives and returns, and what feeds its conv_out
    (read by the test's own hooks)."""
    io, handles = {}, []
    for name, stage in rla_stages(model):
        entry = io.setdefault(name, dict(sources=[]))

        def pre(module, args, entry=entry):
            # the state the stage starts from (None: zeros, in layer1)
            entry['state_in'] = args[1].value

        def post(module, args, output, entry=entry):
            entry['state_out'] = args[1].value

        def source(module, args, entry=entry):
            entry['sources'].append(args[0].clone())

        handles += [
            stage.register_forward_pre_hook(pre),
            stage.register_forward_hook(post)
        ]
        convs = stage.conv_out if isinstance(stage.conv_out, nn.ModuleList) \
            else [stage.conv_out]
        handles += [c.register_forward_pre_hook(source) for c in convs]
    return io, handles


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_records_replay_every_update_of_the_stage(variant):
    model = resnet(**VARIANTS[variant])
    x = torch.randn(2, 3, 64, 64)
    io, handles = stage_io(model)
    with torch.no_grad(), record_hidden(model) as rec:
        model(x)
    for handle in handles:
        handle.remove()
    stages = rec.stages
    assert list(stages) == ['layer1', 'layer2', 'layer3', 'layer4']
    # Detection default (cat_hidden=False): no update after the last block.
    assert [len(v) for v in stages.values()] == [2, 2, 2, 1]
    lstm = VARIANTS[variant].get('rla_cell') == 'lstm'
    for name, records in stages.items():
        stage = getattr(model, name)
        assert [r.block for r in records] == list(range(len(records)))
        state_in = io[name]['state_in']
        if state_in is None:  # layer1 starts from zeros
            zero = torch.zeros_like(records[0].o)
            state_in = (zero, zero) if lstm else zero
        h_in = state_in[0] if lstm else state_in
        # h_{t-1} of the first update: the stage's input, pooled to the
        # block's resolution; later ones: the previous update's h_t.
        from rla_mm.models.layers import match_hidden
        assert torch.equal(records[0].h_prev, match_hidden(h_in, records[0].o))
        for prev, record in zip(records, records[1:]):
            assert torch.equal(record.h_prev, match_hidden(prev.h, record.o))
        c_prev = match_hidden(state_in[1], records[0].o) if lstm else None
        for index, record in enumerate(records):
            source = io[name]['sources'][index]
            conv = stage.conv_out if stage.variant.rla_shared else \
                stage.conv_out[index]
            assert torch.equal(record.o, conv(source))
            state = (record.h_prev, c_prev) if lstm else record.h_prev
            expected = stage.update(index, source, state)
            if lstm:
                assert torch.allclose(record.h, expected[0], atol=1e-6)
                assert torch.allclose(record.c, expected[1], atol=1e-6)
                c_prev = match_hidden(
                    record.c, records[min(index + 1,
                                          len(records) - 1)].o)
            else:
                assert record.c is None
                assert torch.allclose(record.h, expected, atol=1e-6)
        if name != 'layer4':  # the state the stage returns: its last h_t
            out = io[name]['state_out']
            assert torch.equal(records[-1].h, out[0] if lstm else out)


def test_unused_and_used_change_nothing_and_leave_no_hook():
    model = resnet()
    x = torch.randn(1, 3, 64, 64)
    before = hook_counts(model)
    with torch.no_grad():
        reference = model(x)
        with record_hidden(model) as rec:
            inside = model(x)
        after = model(x)
    assert rec.updates  # it did record
    assert hook_counts(model) == before == 0
    for a, b, c in zip(reference, inside, after):
        assert torch.equal(a, b) and torch.equal(a, c)
    # An error inside the block removes the hooks too.
    with pytest.raises(ValueError, match='expects a 4-D'):
        with record_hidden(model):
            model(torch.randn(1, 3, 64))
    assert hook_counts(model) == 0


def test_each_forward_appends_and_clear_forgets():
    model = resnet()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad(), record_hidden(model) as rec:
        model(x)
        first = [r.h for r in rec.updates]
        model(x)
        assert len(rec.updates) == 2 * len(first)
        rec.clear()
        model(x)
    assert all(torch.equal(a, r.h) for a, r in zip(first, rec.updates))


def test_records_are_copies_detached_from_the_graph():
    model = resnet()
    x = torch.randn(1, 3, 64, 64, requires_grad=True)
    with record_hidden(model) as rec:
        out = model(x)
    out[-1].sum().backward()
    assert all(not r.h.requires_grad and not r.o.requires_grad
               for r in rec.updates)
    # O(y_t) is the conv output before the stage adds h_{t-1} in place.
    assert not torch.equal(rec.updates[1].o,
                           rec.updates[1].o + rec.updates[1].h_prev)


def test_activation_checkpointing_reruns_are_not_recorded():
    torch.manual_seed(0)
    model = RLAResNet(depth=18, rla_channel=8, with_cp=True).train()
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    with record_hidden(model) as rec:
        out = model(x)
        count = len(rec.updates)
        sum(o.sum() for o in out).backward()  # blocks run again here
    assert count == len(rec.updates) == 7


def test_classifier_stage_updates_after_its_last_block():
    torch.manual_seed(0)
    model = RLAPreActResNet(depth=20, rla_channel=4, cat_hidden=True).eval()
    with torch.no_grad(), record_hidden(model) as rec:
        model(torch.randn(1, 3, 32, 32))
    assert [len(v) for v in rec.stages.values()] == [3, 3, 3]
    assert [tuple(r.h.shape[2:]) for r in rec.updates[::3]] == [(32, 32),
                                                                (16, 16),
                                                                (8, 8)]


def test_recurrent_conv_shared_between_stages():
    torch.manual_seed(0)
    model = RLAMobileNetV2(rla_channel=8).eval()
    shared = {id(s.recurrent_conv) for _, s in rla_stages(model)}
    assert len(shared) == 1  # one R for all stages (the paper's MobileNetV2)
    with torch.no_grad(), record_hidden(model) as rec:
        model(torch.randn(1, 3, 64, 64))
    counts = {name: len(stage.norms) for name, stage in rla_stages(model)}
    assert {k: len(v) for k, v in rec.stages.items()} == counts
    assert hook_counts(model) == 0


def test_plain_network_is_refused():
    model = RLAResNet(depth=18, rla_channel=0)
    with pytest.raises(ValueError, match='no RLA stage with a hidden-state'):
        with record_hidden(model):
            pass
    with pytest.raises(ValueError, match='no RLA stage'):
        rla_stages(nn.Conv2d(3, 3, 1))


@pytest.mark.parametrize('variant', ['paper', 'unshared'])
def test_knock_out_zeroes_one_update_and_only_it(variant):
    model = resnet(**VARIANTS[variant])
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        with record_hidden(model) as rec:
            model(x)
        with knock_out(model, 'layer2', 1), record_hidden(model) as dropped:
            model(x)
        with record_hidden(model) as again:
            model(x)
    assert hook_counts(model) == 0
    index = [(r.stage, r.block) for r in rec.updates].index(('layer2', 1))
    for i, (a, b) in enumerate(zip(rec.updates, dropped.updates)):
        if i < index:  # before the knocked-out update: unchanged
            assert torch.equal(a.h, b.h) and torch.equal(a.o, b.o)
        elif i == index:
            assert torch.count_nonzero(b.o) == 0
            assert torch.count_nonzero(a.o) > 0
            assert not torch.allclose(a.h, b.h)
        else:  # the recurrence carries the change on
            assert not torch.allclose(a.h, b.h)
    # Outside knock_out the model is itself again.
    assert all(
        torch.equal(a.h, b.h) for a, b in zip(rec.updates, again.updates))


def test_knock_out_names_bad_stage_and_block():
    model = resnet()
    with pytest.raises(ValueError, match="no RLA stage named 'layer9'"):
        with knock_out(model, 'layer9', 0):
            pass
    # layer4 of a detection backbone updates after its first block only.
    with pytest.raises(ValueError, match='blocks 0 to 0, got block=1'):
        with knock_out(model, 'layer4', 1):
            pass
    with pytest.raises(ValueError, match='got block=True'):
        with knock_out(model, 'layer1', True):
            pass
    assert hook_counts(model) == 0


def test_stage_names_inside_a_larger_model():
    model = nn.Sequential(resnet())
    with torch.no_grad(), record_hidden(model) as rec:
        model(torch.randn(1, 3, 64, 64))
    assert rec.updates[0].stage == '0.layer1'
    assert all(isinstance(s, RLAStage) for _, s in rla_stages(model))
