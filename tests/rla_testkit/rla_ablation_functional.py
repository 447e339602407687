"""Reference-format weights and a functional forward for the authors' ImageNet
ablation files (paper Table 6, 15), written from the equations with
torch.nn.functional only (no rla_mm module), like ``rla_functional.py``.

Layouts (read from the authors' files): the main RLA-ResNet one for v1-v6, no
exchange and post-activation (the last two without ``bn2`` where the file drops
it); ``recurrent_convs.{s}.conv`` for the ConvLSTM cell, ``recurrent_convs.{s}.
gate_conv / output_conv / *_norm`` for the ConvGRU cell;
``stages.{s}.{b}.conv_out / recurrent_conv / bn_rla`` per block when unshared;
torchvision's ``layer{i}.{b}`` for the plain ResNets.
"""
from collections import OrderedDict
from typing import Dict

import torch
import torch.nn.functional as F
from torch import Tensor

from . import rla_functional as ref

# Reference arch -> what its file computes.
#   source: what feeds conv_out ('branch', 'output', 'shortcut')
#   add: 'before' / 'after' the recurrent part;  act: 'pre' / 'post'
#   cell: 'conv', 'lstm', 'gru';  shared, exchange: bools
#   head: 'relu' / 'tanh' (after bn2) or 'raw' (h as it is, no bn2)
V = dict(
    source='output',
    add='before',
    act='pre',
    cell='conv',
    shared=True,
    exchange=True,
    head='relu')
BEHAVIOUR = {
    'rlav1_resnet50': dict(V, head='tanh'),
    'rlav1_resnet50_eca': dict(V, head='tanh'),
    'rlav2_resnet50': dict(V, add='after'),
    'rlav3_resnet50': dict(V),
    'rlav4_resnet50': dict(V, add='after'),
    'rlav5_resnet50': dict(V, source='shortcut'),
    'rlav6_resnet50': dict(V, source='shortcut', add='after'),
    'rlaus_resnet50': dict(V, source='branch', shared=False),
    'rlaus_resnet101': dict(V, source='branch', shared=False),
    'rlarh_resnet50': dict(V, exchange=False),
    'rlalstm_resnet50': dict(V, cell='lstm', head='raw'),
    'rlagru_resnet50': dict(V, cell='gru', head='raw'),
    'rlagru_resnet50_eca': dict(V, cell='gru', head='raw'),
    'rlagru_resnet101': dict(V, cell='gru', head='raw'),
    'rlagru_resnet101_eca': dict(V, cell='gru', head='raw'),
    'rlav1p_resnet50': dict(V, act='post', head='raw'),
    'resnet50': dict(plain=0),
    'resnet50_k': dict(plain=32),
}


def arch_depth(arch: str) -> int:
    return 101 if 'resnet101' in arch else 50


def arch_eca(arch: str):
    return (5, 5, 5, 7) if arch.endswith('_eca') else None


# -------------------------------------------------------------- random weights
def random_plain_state_dict(depth: int = 50,
                            extra: int = 0,
                            num_classes: int = 10,
                            seed: int = 0) -> 'OrderedDict[str, Tensor]':
    """torchvision-layout ResNet weights, every block ``extra`` channels
    wider."""
    gen = torch.Generator().manual_seed(seed)
    sd = OrderedDict()
    ref._conv(sd, 'conv1.weight', 64, 3, 7, gen)
    ref._bn(sd, 'bn1', 64, gen)
    inplanes = 64
    for s, n in enumerate(ref.RESNET_STAGES[depth]):
        planes = 64 * 2**s + extra // 4
        for b in range(n):
            p = f'layer{s + 1}.{b}'
            cin = inplanes if b == 0 else planes * 4
            ref._conv(sd, f'{p}.conv1.weight', planes, cin, 1, gen)
            ref._bn(sd, f'{p}.bn1', planes, gen)
            ref._conv(sd, f'{p}.conv2.weight', planes, planes, 3, gen)
            ref._bn(sd, f'{p}.bn2', planes, gen)
            ref._conv(sd, f'{p}.conv3.weight', planes * 4, planes, 1, gen)
            ref._bn(sd, f'{p}.bn3', planes * 4, gen, scale=0.2)
            if b == 0:
                ref._conv(sd, f'{p}.downsample.0.weight', planes * 4, cin, 1,
                          gen)
                ref._bn(sd, f'{p}.downsample.1', planes * 4, gen)
        inplanes = planes * 4
    sd['fc.weight'] = torch.randn(num_classes, inplanes, generator=gen) \
        / inplanes**0.5
    sd['fc.bias'] = 0.1 * torch.randn(num_classes, generator=gen)
    return sd


def random_ablation_state_dict(arch: str,
                               k: int = 32,
                               num_classes: int = 10,
                               seed: int = 0) -> 'OrderedDict[str, Tensor]':
    """Weights in the key layout of the authors' file of ``arch``."""
    b = BEHAVIOUR[arch]
    depth = arch_depth(arch)
    if 'plain' in b:
        return random_plain_state_dict(depth, b['plain'], num_classes, seed)
    sd = ref.random_resnet_state_dict(
        depth, k, eca=arch_eca(arch), num_classes=num_classes, seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    stages = ref.RESNET_STAGES[depth]
    if not b['exchange']:  # the first convs read x alone
        for key in [
                key for key in sd
                if key.endswith('.conv1.weight') and key.startswith('stages.')
        ]:
            sd[key] = sd[key][:, :-k].clone()
    if b['head'] == 'raw':
        for key in [key for key in sd if key.startswith('bn2.')]:
            del sd[key]
    for s in range(len(stages)):
        if b['cell'] == 'lstm':
            del sd[f'recurrent_convs.{s}.weight']
            ref._conv(sd, f'recurrent_convs.{s}.conv.weight', 4 * k, 2 * k, 3,
                      gen)
        elif b['cell'] == 'gru':
            del sd[f'recurrent_convs.{s}.weight']
            p = f'recurrent_convs.{s}'
            ref._conv(sd, f'{p}.gate_conv.weight', 2 * k, 2 * k, 3, gen)
            sd[f'{p}.gate_conv.bias'] = 0.1 * torch.randn(2 * k, generator=gen)
            ref._conv(sd, f'{p}.output_conv.weight', k, 2 * k, 3, gen)
            sd[f'{p}.output_conv.bias'] = 0.1 * torch.randn(k, generator=gen)
            for norm in ('reset_gate_norm', 'update_gate_norm', 'output_norm'):
                sd[f'{p}.{norm}.weight'] = 0.5 + torch.rand(k, generator=gen)
                sd[f'{p}.{norm}.bias'] = 0.2 * torch.randn(k, generator=gen)
        if not b['shared']:
            cout = sd.pop(f'conv_outs.{s}.weight').shape[1]
            del sd[f'recurrent_convs.{s}.weight']
            for i in range(stages[s]):
                p = f'stages.{s}.{i}'
                ref._conv(sd, f'{p}.conv_out.weight', k, cout, 1, gen)
                ref._conv(sd, f'{p}.recurrent_conv.weight', k, k, 3, gen)
                for name in ('weight', 'bias', 'running_mean', 'running_var',
                             'num_batches_tracked'):
                    sd[f'{p}.bn_rla.{name}'] = sd.pop(
                        f'stage_bns.{s}.{i}.{name}')
    return sd


# ---------------------------------------------------------- functional forward
def _lstm(u: Tensor, h: Tensor, c: Tensor, weight: Tensor):
    gates = F.conv2d(torch.cat([u, h], 1), weight, padding=1)
    i, f, o, g = torch.split(gates, h.shape[1], dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _gru(u: Tensor, h: Tensor, sd, p: str) -> Tensor:

    def gn(t, name):
        return F.group_norm(
            t, 1, sd[f'{p}.{name}.weight'], sd[f'{p}.{name}.bias'], eps=1e-6)

    gates = F.conv2d(
        torch.cat([u, h], 1),
        sd[f'{p}.gate_conv.weight'],
        sd[f'{p}.gate_conv.bias'],
        padding=1)
    r, z = torch.split(gates, h.shape[1], dim=1)
    r = torch.sigmoid(gn(r, 'reset_gate_norm'))
    z = torch.sigmoid(gn(z, 'update_gate_norm'))
    n = torch.tanh(
        gn(
            F.conv2d(
                torch.cat([u, r * h], 1),
                sd[f'{p}.output_conv.weight'],
                sd[f'{p}.output_conv.bias'],
                padding=1), 'output_norm'))
    return z * h + (1 - z) * n


def _bottleneck(sd, p: str, x: Tensor, inp: Tensor, stride: int, first: bool):
    """(block output, branch output, shortcut) of a post-activation
    bottleneck."""
    out = F.relu(
        ref.bn(F.conv2d(inp, sd[f'{p}.conv1.weight']), sd, f'{p}.bn1'))
    out = F.relu(
        ref.bn(
            F.conv2d(out, sd[f'{p}.conv2.weight'], stride=stride, padding=1),
            sd, f'{p}.bn2'))
    out = ref.bn(F.conv2d(out, sd[f'{p}.conv3.weight']), sd, f'{p}.bn3')
    if f'{p}.eca.conv.weight' in sd:
        out = ref.eca(out, sd[f'{p}.eca.conv.weight'])
    identity = x
    if first:
        identity = ref.bn(
            F.conv2d(x, sd[f'{p}.downsample.0.weight'], stride=stride), sd,
            f'{p}.downsample.1')
    return F.relu(out + identity), out, identity


def ablation_forward(sd,
                     x: Tensor,
                     arch: str,
                     k: int = 32) -> Dict[str, Tensor]:
    """Logits and stage outputs of the authors' ablation model ``arch``."""
    b = BEHAVIOUR[arch]
    stages = ref.RESNET_STAGES[arch_depth(arch)]
    x = F.relu(
        ref.bn(
            F.conv2d(x, sd['conv1.weight'], stride=2, padding=3), sd, 'bn1'))
    x = F.max_pool2d(x, 3, 2, 1)
    feats = []
    if 'plain' in b:
        for s, n in enumerate(stages):
            for i in range(n):
                stride = 2 if s > 0 and i == 0 else 1
                x = _bottleneck(sd, f'layer{s + 1}.{i}', x, x, stride,
                                i == 0)[0]
            feats.append(x)
        logits = F.linear(x.mean(dim=(2, 3)), sd['fc.weight'], sd['fc.bias'])
        return dict(feats=feats, logits=logits)
    h = torch.zeros(x.shape[0], k, *x.shape[2:])
    c = torch.zeros_like(h)
    for s, n in enumerate(stages):
        for i in range(n):
            p = f'stages.{s}.{i}'
            stride = 2 if s > 0 and i == 0 else 1
            inp = torch.cat([x, h], 1) if b['exchange'] else x
            x, branch, shortcut = _bottleneck(sd, p, x, inp, stride, i == 0)
            if stride == 2:
                h, c = ref.pool_hidden(h), ref.pool_hidden(c)
            src = dict(output=x, branch=branch, shortcut=shortcut)[b['source']]
            if b['shared']:
                conv_out, rec = f'conv_outs.{s}.weight', f'recurrent_convs.{s}'
                norm = f'stage_bns.{s}.{i}'
            else:
                conv_out, rec = f'{p}.conv_out.weight', f'{p}.recurrent_conv'
                norm = f'{p}.bn_rla'
            o = F.conv2d(src, sd[conv_out])
            if b['cell'] == 'lstm':
                h, c = _lstm(
                    torch.tanh(ref.bn(o, sd, norm)), h, c,
                    sd[f'{rec}.conv.weight'])
            elif b['cell'] == 'gru':
                h = _gru(torch.tanh(ref.bn(o, sd, norm)), h, sd, rec)
            else:
                z = h + o if b['add'] == 'before' else h
                if b['act'] == 'pre':
                    z = F.conv2d(
                        torch.tanh(ref.bn(z, sd, norm)),
                        sd[f'{rec}.weight'],
                        padding=1)
                else:
                    z = torch.tanh(
                        ref.bn(
                            F.conv2d(z, sd[f'{rec}.weight'], padding=1), sd,
                            norm))
                h = z + o if b['add'] == 'after' else z
        feats.append(x)
    if b['head'] == 'raw':
        hidden = h
    else:
        hidden = ref.bn(h, sd, 'bn2')
        hidden = torch.tanh(hidden) if b['head'] == 'tanh' else F.relu(hidden)
    pooled = torch.cat([x, hidden], 1).mean(dim=(2, 3))
    logits = F.linear(pooled, sd['fc.weight'], sd['fc.bias'])
    return dict(feats=feats, hidden=h, logits=logits)
