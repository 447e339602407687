"""An independent functional RLA forward over reference-format state dicts.

Written from the paper's equations (Eq. 11, Figure 3) and the layout of the
authors' checkpoints (fangyanwen1106/RLANet) with torch.nn.functional only, so
that the equivalence tests compare rla_mm's modules against code that shares
nothing with them. Also builds random reference-format
state dicts with non-trivial BN statistics.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

RESNET_STAGES = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
MOBILENET_GROUPS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
MOBILENET_RESOLUTION = (0, 1, 2, 3, 3, 4, 4)


# -------------------------------------------------------------- random weights
def _bn(sd: Dict[str, Tensor],
        prefix: str,
        c: int,
        gen: torch.Generator,
        scale: float = 1.0) -> None:
    sd[f'{prefix}.weight'] = scale * (0.5 + torch.rand(c, generator=gen))
    sd[f'{prefix}.bias'] = 0.2 * torch.randn(c, generator=gen)
    sd[f'{prefix}.running_mean'] = 0.2 * torch.randn(c, generator=gen)
    sd[f'{prefix}.running_var'] = 0.5 + torch.rand(c, generator=gen)
    sd[f'{prefix}.num_batches_tracked'] = torch.tensor(1000)


def _conv(sd, key, cout, cin, k, gen, groups=1):
    fan_in = cin // groups * k * k
    sd[key] = torch.randn(cout, cin // groups, k, k, generator=gen) \
        * (1.0 / fan_in)**0.5


def random_resnet_state_dict(depth: int,
                             k: int = 32,
                             eca: Optional[Sequence[int]] = None,
                             se: Optional[int] = None,
                             groups: int = 1,
                             width_per_group: int = 64,
                             num_classes: int = 10,
                             seed: int = 0,
                             head: bool = True) -> 'OrderedDict[str, Tensor]':
    """Reference-format (``stages.*``, ``module.``-less) RLA-ResNet weights.

    ``head=False`` gives the layout of the authors' detection backbone
    (``mmdetection/resnet_rla.py``): no ``bn2`` and ``fc``; the last block's
    ``stage_bns`` entry is there although its output is never read."""
    gen = torch.Generator().manual_seed(seed)
    sd = OrderedDict()
    _conv(sd, 'conv1.weight', 64, 3, 7, gen)
    _bn(sd, 'bn1', 64, gen)
    inplanes = 64
    for s, n in enumerate(RESNET_STAGES[depth]):
        planes = 64 * 2**s
        width = int(planes * width_per_group / 64) * groups
        for b in range(n):
            p = f'stages.{s}.{b}'
            cin = inplanes if b == 0 else planes * 4
            _conv(sd, f'{p}.conv1.weight', width, cin + k, 1, gen)
            _bn(sd, f'{p}.bn1', width, gen)
            _conv(sd, f'{p}.conv2.weight', width, width, 3, gen, groups)
            _bn(sd, f'{p}.bn2', width, gen)
            _conv(sd, f'{p}.conv3.weight', planes * 4, width, 1, gen)
            _bn(sd, f'{p}.bn3', planes * 4, gen, scale=0.2)
            if b == 0:
                _conv(sd, f'{p}.downsample.0.weight', planes * 4, cin, 1, gen)
                _bn(sd, f'{p}.downsample.1', planes * 4, gen)
            if se:
                c = planes * 4
                sd[f'{p}.se.fc.0.weight'] = torch.randn(
                    c // se, c, generator=gen) / c**0.5
                sd[f'{p}.se.fc.2.weight'] = torch.randn(
                    c, c // se, generator=gen) / (c // se)**0.5
            if eca:
                sd[f'{p}.eca.conv.weight'] = torch.randn(
                    1, 1, eca[s], generator=gen)
        for b in range(n):
            _bn(sd, f'stage_bns.{s}.{b}', k, gen)
        _conv(sd, f'conv_outs.{s}.weight', k, planes * 4, 1, gen)
        _conv(sd, f'recurrent_convs.{s}.weight', k, k, 3, gen)
        inplanes = planes * 4
    if not head:
        return sd
    _bn(sd, 'bn2', k, gen)
    sd['fc.weight'] = torch.randn(num_classes, inplanes + k, generator=gen) \
        / (inplanes + k)**0.5
    sd['fc.bias'] = 0.1 * torch.randn(num_classes, generator=gen)
    return sd


def random_mobilenet_state_dict(k: int = 32,
                                eca: bool = False,
                                num_classes: int = 10,
                                seed: int = 0) -> 'OrderedDict[str, Tensor]':
    """Reference-format RLA-MobileNetV2 weights: the layout of the authors'
    ``models/mobilenetv2_dsrla.py`` (one shared depthwise recurrent conv,
    stored as ``recurrent_dsconvs.{0..4}``), that of their published
    weights."""
    gen = torch.Generator().manual_seed(seed)
    sd = OrderedDict()
    _conv(sd, 'conv1.0.weight', 32, 3, 3, gen)
    _bn(sd, 'conv1.1', 32, gen)
    cin = 32
    for j, (t, c, n, _) in enumerate(MOBILENET_GROUPS):
        for i in range(n):
            p = f'stages.{j}.{i}'
            hidden = cin * t
            if t != 1:
                _conv(sd, f'{p}.conv1x1.0.weight', hidden, cin, 1, gen)
                _bn(sd, f'{p}.conv1x1.1', hidden, gen)
            w = hidden + k
            _conv(sd, f'{p}.conv.0.0.weight', w, w, 3, gen, groups=w)
            _bn(sd, f'{p}.conv.0.1', w, gen)
            _conv(sd, f'{p}.conv.1.weight', c, w, 1, gen)
            _bn(sd, f'{p}.conv.2', c, gen, scale=0.3)
            if eca:
                ks = 1 if c < 96 else 3
                sd[f'{p}.conv.3.conv.weight'] = torch.randn(
                    1, 1, ks, generator=gen)
            cin = c
        for i in range(n):
            _bn(sd, f'stage_bns.{j}.{i}', k, gen)
        _conv(sd, f'conv_outs.{j}.weight', k, c, 1, gen)
    # models/mobilenetv2_dsrla.py repeats ONE depthwise conv module five times
    shared = torch.randn(k, 1, 3, 3, generator=gen) / 3.0
    for r in range(5):
        sd[f'recurrent_dsconvs.{r}.weight'] = shared
    _conv(sd, 'conv2.0.weight', 1280, 320 + k, 1, gen)
    _bn(sd, 'conv2.1', 1280, gen)
    _bn(sd, 'bn2', k, gen)
    sd['classifier.1.weight'] = torch.randn(
        num_classes, 1280, generator=gen) / 1280**0.5
    sd['classifier.1.bias'] = 0.1 * torch.randn(num_classes, generator=gen)
    return sd


# ---------------------------------------------------------- functional forward
def bn(x: Tensor, sd: Dict[str, Tensor], prefix: str) -> Tensor:
    return F.batch_norm(
        x,
        sd[f'{prefix}.running_mean'],
        sd[f'{prefix}.running_var'],
        sd[f'{prefix}.weight'],
        sd[f'{prefix}.bias'],
        training=False,
        eps=1e-5)


def eca(x: Tensor, weight: Tensor) -> Tensor:
    n, c = x.shape[:2]
    w = x.mean(dim=(2, 3)).view(n, 1, c)
    w = F.conv1d(w, weight, padding=(weight.shape[-1] - 1) // 2)
    return x * torch.sigmoid(w).view(n, c, 1, 1)


def rla_update(h: Tensor,
               y: Tensor,
               sd,
               conv_out: str,
               norm: str,
               recurrent: str,
               groups: int = 1) -> Tensor:
    """h_t = R(tanh(BN_t(h_{t-1} + O(y_t))))"""
    h = torch.tanh(bn(h + F.conv2d(y, sd[conv_out]), sd, norm))
    return F.conv2d(h, sd[recurrent], padding=1, groups=groups)


def pool_hidden(h: Tensor) -> Tensor:
    # Even sizes only: the reference's floor-mode 2x2 pool.
    assert h.shape[-1] % 2 == 0 and h.shape[-2] % 2 == 0
    return F.avg_pool2d(h, 2, 2)


def resnet_forward(sd,
                   x: Tensor,
                   depth: int,
                   k: int = 32,
                   groups: int = 1,
                   source: str = 'output') -> Dict[str, object]:
    """RLA-ResNet forward. ``source`` picks y_t: 'branch' (Eq. 11) or the block
    output 'output' (what the authors' code computes)."""
    x = F.relu(
        bn(F.conv2d(x, sd['conv1.weight'], stride=2, padding=3), sd, 'bn1'))
    x = F.max_pool2d(x, 3, 2, 1)
    h = torch.zeros(x.shape[0], k, *x.shape[2:], dtype=x.dtype)
    feats: List[Tensor] = []
    for s, n in enumerate(RESNET_STAGES[depth]):
        for b in range(n):
            p = f'stages.{s}.{b}'
            stride = 2 if s > 0 and b == 0 else 1
            out = F.relu(
                bn(
                    F.conv2d(torch.cat([x, h], 1), sd[f'{p}.conv1.weight']),
                    sd, f'{p}.bn1'))
            out = F.relu(
                bn(
                    F.conv2d(
                        out,
                        sd[f'{p}.conv2.weight'],
                        stride=stride,
                        padding=1,
                        groups=groups), sd, f'{p}.bn2'))
            out = bn(F.conv2d(out, sd[f'{p}.conv3.weight']), sd, f'{p}.bn3')
            if f'{p}.se.fc.0.weight' in sd:
                w = out.mean(dim=(2, 3))
                w = F.linear(
                    F.relu(F.linear(w, sd[f'{p}.se.fc.0.weight'])),
                    sd[f'{p}.se.fc.2.weight'])
                out = out * torch.sigmoid(w)[:, :, None, None]
            if f'{p}.eca.conv.weight' in sd:
                out = eca(out, sd[f'{p}.eca.conv.weight'])
            identity = x
            if b == 0:
                identity = bn(
                    F.conv2d(x, sd[f'{p}.downsample.0.weight'], stride=stride),
                    sd, f'{p}.downsample.1')
            x = F.relu(out + identity)
            if stride == 2:
                h = pool_hidden(h)
            y = x if source == 'output' else out
            h = rla_update(h, y, sd, f'conv_outs.{s}.weight',
                           f'stage_bns.{s}.{b}', f'recurrent_convs.{s}.weight')
        feats.append(x)
    if 'fc.weight' not in sd:  # a detection backbone: h is dropped
        return dict(feats=feats, hidden=h)
    hidden = F.relu(bn(h, sd, 'bn2'))
    pooled = torch.cat([x, hidden], 1).mean(dim=(2, 3))
    logits = F.linear(pooled, sd['fc.weight'], sd['fc.bias'])
    return dict(feats=feats, hidden=h, logits=logits)


def mobilenet_forward(sd,
                      x: Tensor,
                      k: int = 32,
                      source: str = 'branch') -> Dict[str, object]:
    """RLA-MobileNetV2 forward (h joins after the expansion conv)."""
    x = F.relu6(
        bn(
            F.conv2d(x, sd['conv1.0.weight'], stride=2, padding=1), sd,
            'conv1.1'))
    h = torch.zeros(x.shape[0], k, *x.shape[2:], dtype=x.dtype)
    feats: List[Tensor] = []
    cin = 32
    for j, (t, c, n, s) in enumerate(MOBILENET_GROUPS):
        for i in range(n):
            p = f'stages.{j}.{i}'
            stride = s if i == 0 else 1
            out = x
            if t != 1:
                out = F.relu6(
                    bn(
                        F.conv2d(x, sd[f'{p}.conv1x1.0.weight']), sd,
                        f'{p}.conv1x1.1'))
            out = torch.cat([out, h], 1)
            out = F.relu6(
                bn(
                    F.conv2d(
                        out,
                        sd[f'{p}.conv.0.0.weight'],
                        stride=stride,
                        padding=1,
                        groups=out.shape[1]), sd, f'{p}.conv.0.1'))
            out = bn(
                F.conv2d(out, sd[f'{p}.conv.1.weight']), sd, f'{p}.conv.2')
            if f'{p}.conv.3.conv.weight' in sd:
                out = eca(out, sd[f'{p}.conv.3.conv.weight'])
            x = x + out if stride == 1 and cin == c else out
            if stride == 2:
                h = pool_hidden(h)
            y = x if source == 'output' else out
            h = rla_update(
                h,
                y,
                sd,
                f'conv_outs.{j}.weight',
                f'stage_bns.{j}.{i}',
                f'recurrent_dsconvs.{MOBILENET_RESOLUTION[j]}.weight',
                groups=k)
            cin = c
        feats.append(x)
    hidden = F.relu6(bn(h, sd, 'bn2'))
    x = F.relu6(
        bn(
            F.conv2d(torch.cat([x, hidden], 1), sd['conv2.0.weight']), sd,
            'conv2.1'))
    logits = F.linear(
        x.mean(dim=(2, 3)), sd['classifier.1.weight'], sd['classifier.1.bias'])
    return dict(feats=feats, hidden=h, logits=logits)
