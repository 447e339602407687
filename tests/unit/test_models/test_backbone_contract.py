"""The contract every registered RLA backbone keeps
(after timm's tests/test_models.py).

The backbones are found in the registry, not listed here;
``rla_mm.testing.backbone_cases.TINY`` gives each a small width, and a new
backbone fails
:func:`test_every_registered_backbone_has_cases` until it has one. For every
backbone, ``cat_hidden`` and ``out_indices`` choice:

* the outputs have the channels and strides of ``output_info`` on an odd input;
* every parameter gets a gradient (DDP needs no ``find_unused_parameters``);
* the state_dict keys are those recorded from the code at f67c099
  (``tests/fixtures/backbone_keys.json``), less the modules that got no
  gradient there and are no longer built.

And per backbone: ``with_cp`` gives the same outputs and gradients,
``frozen_stages`` and ``norm_eval`` hold through ``train()``, bad arguments
raise errors that name them, and the full-size layouts of the configs are
unchanged.
"""
import json
import math
import os.path as osp

import pytest
import torch
from rla_testkit import key_layouts
from rla_testkit.checkout import FIXTURES
from torch.nn.modules.batchnorm import _BatchNorm

from rla_mm.models.backbones.base import RLABackbone
from rla_mm.models.layers import upgrade_stage_keys
from rla_mm.registry import MODELS
from rla_mm.testing.backbone_cases import DEFAULTS, INPUT_SIZE, TINY, case_list

FIXTURE = osp.join(FIXTURES, 'backbone_keys.json')
with open(FIXTURE) as f:
    RECORDED = json.load(f)

CASES = case_list()
# One variant per backbone and cat_hidden value, all outputs.
FULL_CASES = [c for c in CASES if c[0].endswith('-all')]


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Tiny tensors: on a shared machine, threads only wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def keys_hash(keys) -> str:
    return key_layouts.sha(keys)


def recorded_difference(keys, recorded_sha: str) -> str:
    """The keys added and removed against the recorded layout, for a
    message."""
    if recorded_sha not in RECORDED['keys']:
        return (f'no keys kept for layout {recorded_sha}: run '
                'record_backbone_keys.py --fill-keys')
    return key_layouts.difference(
        keys, key_layouts.expand(RECORDED['keys'][recorded_sha]))


def test_recorded_keys_are_the_recorded_layouts():
    # every recorded layout keeps its keys, and they hash to the record
    shas = {
        c['sha_used']
        for c in RECORDED['cases'].values() if not c.get('new')
    }
    shas |= {d['sha'] for d in RECORDED['defaults'].values()}
    assert sorted(shas - set(RECORDED['keys'])) == [], \
        'run .dev_scripts/fixtures/record_backbone_keys.py --fill-keys'
    for recorded_sha, compacted in RECORDED['keys'].items():
        assert keys_hash(key_layouts.expand(compacted)) == recorded_sha


def build(type_name: str, **kwargs) -> RLABackbone:
    torch.manual_seed(0)
    return MODELS.get(type_name)(**kwargs)


def first_variant(type_name: str) -> dict:
    return next(iter(TINY[type_name][1].values()))


def loss_of(outs) -> torch.Tensor:
    return sum(o.float().square().mean() for o in outs)


def test_every_registered_backbone_has_cases():
    registered = {
        name
        for name, cls in MODELS.module_dict.items()
        if isinstance(cls, type) and issubclass(cls, RLABackbone)
    }
    assert registered == set(TINY)


@pytest.mark.parametrize(
    'case_id,type_name,kwargs', CASES, ids=[c[0] for c in CASES])
def test_outputs_gradients_and_layout(case_id, type_name, kwargs):
    model = build(type_name, **kwargs).train()
    x = torch.randn(2, model.in_channels, *INPUT_SIZE)
    outs = model(x)
    # one output per index, shaped as output_info says, on an odd input
    assert len(outs) == len(model.output_info) == len(kwargs['out_indices'])
    for out, info in zip(outs, model.output_info):
        size = tuple(math.ceil(s / info['reduction']) for s in INPUT_SIZE)
        assert out.shape == (2, info['num_chs'], *size), info
        assert isinstance(model.get_submodule(info['module']), torch.nn.Module)
    assert model.feat_dim == outs[-1].shape[1]
    # every parameter gets a gradient
    loss_of(outs).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    # the checkpoint layout: today's keys, less what got no gradient there
    recorded = RECORDED['cases'][case_id]
    keys = list(model.state_dict())
    if recorded.get('new'):
        # an option f67c099 did not have (MobileNetV2's cat_hidden=False)
        assert type_name == 'RLAMobileNetV2' and not kwargs['cat_hidden']
        assert not any(k.startswith('bn_hidden.') for k in keys)
    else:
        assert (len(keys), keys_hash(keys)) == (
            recorded['n_used'], recorded['sha_used']), \
            recorded_difference(keys, recorded['sha_used']) \
            + f"; no longer built: {recorded['dead']}"
        assert not any(
            k.startswith(d + '.') for k in keys for d in recorded['dead'])


@pytest.mark.parametrize(
    'case_id,type_name,kwargs', FULL_CASES, ids=[c[0] for c in FULL_CASES])
def test_with_cp_gives_the_same_outputs_and_gradients(case_id, type_name,
                                                      kwargs):
    plain = build(type_name, **kwargs).train()
    ckpt = build(type_name, with_cp=True, **kwargs).train()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, plain.in_channels, *INPUT_SIZE)
    outs = [model(x) for model in (plain, ckpt)]
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b)
    for model, out in zip((plain, ckpt), outs):
        loss_of(out).backward()
    grads = dict(ckpt.named_parameters())
    for name, p in plain.named_parameters():
        torch.testing.assert_close(p.grad, grads[name].grad, msg=name)


@pytest.mark.parametrize(
    'case_id,type_name,kwargs', FULL_CASES, ids=[c[0] for c in FULL_CASES])
def test_frozen_stages_and_norm_eval(case_id, type_name, kwargs):
    model = build(type_name, frozen_stages=1, norm_eval=True, **kwargs)
    model.train()
    frozen = model.stem_modules() + [model.layer1]
    frozen_ids = {id(p) for m in frozen for p in m.parameters()}
    for m in frozen:
        assert not m.training
    # every BN is in eval mode, the frozen parts' and the others'
    assert not any(m.training
                   for m in model.modules() if isinstance(m, _BatchNorm))
    assert model.layer2.training
    for name, p in model.named_parameters():
        assert p.requires_grad == (id(p) not in frozen_ids), name
    # every parameter gets a gradient or is frozen on purpose
    loss_of(model(torch.randn(2, model.in_channels, *INPUT_SIZE))).backward()
    for name, p in model.named_parameters():
        assert (p.grad is None) == (id(p) in frozen_ids), name
    # freezing everything a backbone outputs
    everything = build(
        type_name,
        frozen_stages=len(model.stage_names) + int(model.close_has_output),
        **kwargs).train()
    trainable = [
        n for n, p in everything.named_parameters() if p.requires_grad
    ]
    allowed = ('bn_hidden.', 'final_norm.')
    assert all(n.startswith(allowed) for n in trainable), trainable


def bad_arguments(type_name: str):
    """(keyword arguments, the name the error must give) for ``type_name``;
    a value of the wrong type raises TypeError, a bad value ValueError."""
    num_outputs = TINY[type_name][0]
    return [
        (dict(out_indices=(num_outputs, )), 'out_indices'),
        (dict(out_indices=()), 'out_indices'),
        (dict(out_indices=(0, ), cat_hidden=True), 'out_indices'),
        (dict(frozen_stages=num_outputs + 1), 'frozen_stages'),
        (dict(frozen_stages=-2), 'frozen_stages'),
        (dict(rla_channel=-1), 'rla_channel'),
        (dict(cat_hidden='yes'), 'cat_hidden'),
        (dict(norm_eval=1), 'norm_eval'),
        (dict(with_cp='no'), 'with_cp'),
        (dict(rla_source='input'), 'rla_source'),
        (dict(norm_cfg='BN'), 'norm_cfg'),
        (dict(in_channels=0), 'in_channels'),
    ]


BAD = [(t, kw, name) for t in TINY for kw, name in bad_arguments(t)
       ] + [(t, dict(conv_cfg='Conv2d'), 'conv_cfg') for t in TINY]
WRONG_TYPE = ('norm_cfg', 'conv_cfg')  # checked by check_type


@pytest.mark.parametrize(
    'type_name,bad,name',
    BAD,
    ids=[f'{t}-{n}-{i}' for i, (t, _, n) in enumerate(BAD)])
def test_bad_arguments_name_the_argument_and_value(type_name, bad, name):
    kwargs = dict(first_variant(type_name), **bad)
    error = TypeError if name in WRONG_TYPE else ValueError
    with pytest.raises(error) as err:
        MODELS.get(type_name)(**kwargs)
    assert name in str(err.value)
    assert repr(bad[name]) in str(err.value)


@pytest.mark.parametrize('type_name', sorted(TINY))
def test_bad_inputs_are_refused_with_their_shape(type_name):
    model = build(type_name, **first_variant(type_name))
    with pytest.raises(ValueError, match=r'4-D .* got shape \(3, 32, 32\)'):
        model(torch.randn(3, 32, 32))
    with pytest.raises(
            ValueError, match=r'in_channels = 3, got shape \(1, 4, 32, 32\)'):
        model(torch.randn(1, 4, 32, 32))


@pytest.mark.parametrize('name', sorted(DEFAULTS))
def test_config_models_keep_their_layout_and_size(name):
    type_name, kwargs = DEFAULTS[name]
    model = MODELS.get(type_name)(**kwargs)
    keys = list(model.state_dict())
    recorded = RECORDED['defaults'][name]
    assert (len(keys), keys_hash(keys)) == (recorded['n'], recorded['sha']), \
        recorded_difference(keys, recorded['sha'])
    assert sum(p.numel() for p in model.parameters()) == recorded['params']


# The layouts of rla_mm 0.1 (blocks under ``layerN.blocks.i``), as recorded
# before the stages became sequences of their blocks.
with open(osp.join(FIXTURES, 'backbone_keys_0.1.json')) as f:
    RECORDED_0_1 = json.load(f)
LAYOUTS_0_1 = [(case_id, type_name, kwargs, RECORDED_0_1['cases'][case_id])
               for case_id, type_name, kwargs in CASES
               if case_id in RECORDED_0_1['cases']
               and not RECORDED_0_1['cases'][case_id].get('new')]
LAYOUTS_0_1 += [(name, *DEFAULTS[name], record)
                for name, record in RECORDED_0_1['defaults'].items()]


@pytest.mark.parametrize(
    'name,type_name,kwargs,record',
    LAYOUTS_0_1,
    ids=[layout[0] for layout in LAYOUTS_0_1])
def test_every_key_of_0_1_maps_to_exactly_one_key(name, type_name, kwargs,
                                                  record):
    old = key_layouts.expand(RECORDED_0_1['keys'][record.get(
        'sha_used', record['sha'])])
    model = MODELS.get(type_name)(**kwargs)
    # the rename the stages apply when they load an rla_mm 0.1 state dict
    state = dict.fromkeys(old)
    for stage in model.stage_names:
        upgrade_stage_keys(state, f'{stage}.')
    assert len(state) == len(old)  # no two old keys become one
    assert sorted(state) == sorted(model.state_dict())
    assert not any('.blocks.' in k for k in state)
