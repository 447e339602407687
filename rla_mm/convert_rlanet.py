"""Key mapping from the authors' RLANet checkpoints to rla_mm classifiers.

The reference checkpoints are ``torch.save`` dicts with ``state_dict`` (keys prefixed
by ``module.``), ``arch``, ``epoch``, ``best_acc1`` and ``optimizer``. The converted
checkpoint holds ``backbone.*`` and ``head.*`` keys for an MMPretrain
``ImageClassifier``; detection configs load it with ``prefix='backbone.'``.

Command line (also ``tools/model_converters/rlanet_to_rla_mm.py``)::

    python -m rla_mm.convert_rlanet SRC DST [--arch ARCH]
"""
import argparse
import os
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from torch import Tensor

from .configs import load_metafile
from .convert_ablation import ABLATION_ARCHS, ablation_rules
from .models import RLAMobileNetV2, RLAResNet
from .safe_loading import load_foreign

# Reference arch name -> (backbone type, keyword arguments of the backbone).
_RESNET_BODIES = {
    'resnet50': dict(depth=50),
    'resnet101': dict(depth=101),
    'resnet152': dict(depth=152),
    'resnext50_32x4d': dict(depth=50, groups=32, base_width=4),
    'resnext101_32x4d': dict(depth=101, groups=32, base_width=4),
}
_ATTENTION_SUFFIXES = {'': {}, '_eca': dict(eca=True), '_se': dict(se=True)}
RESNET_ARCHS = {
    f'rla_{body}{suffix}': {**body_kwargs, **attention}
    for body, body_kwargs in _RESNET_BODIES.items()
    for suffix, attention in _ATTENTION_SUFFIXES.items()
}
# RLA-MobileNetV2: the factories of the authors' models/mobilenetv2_dsrla.py, the
# code of their published weights (dsrla_mobilenetv2_k32_2762, ..._k32_eca_2707).
_MOBILENET_KS = (('', 32), ('_k6', 6), ('_k12', 12), ('_k24', 24), ('_k32', 32))
MOBILENET_ARCHS = {
    f'dsrla_mobilenetv2{k_name}{suffix}': dict(
        rla_channel=k, eca=True if suffix else None)
    for k_name, k in _MOBILENET_KS
    for suffix in ('', '_eca')
}
ARCHS = sorted(RESNET_ARCHS) + sorted(MOBILENET_ARCHS) \
    + sorted(ABLATION_ARCHS)

_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'

RESNET_RULES: List[Tuple[str, str]] = [
    (r'conv1\.weight', r'backbone.conv1.weight'),
    (rf'bn1\.{_BN}', r'backbone.bn1.\1'),
    (r'stages\.(\d+)\.(\d+)\.conv([123])\.weight',
     r'backbone.layer{s}.blocks.\2.conv\3.weight'),
    (rf'stages\.(\d+)\.(\d+)\.bn([123])\.{_BN}',
     r'backbone.layer{s}.blocks.\2.bn\3.\4'),
    (r'stages\.(\d+)\.0\.downsample\.0\.weight',
     r'backbone.layer{s}.blocks.0.downsample.0.weight'),
    (rf'stages\.(\d+)\.0\.downsample\.1\.{_BN}',
     r'backbone.layer{s}.blocks.0.downsample.1.\2'),
    (r'stages\.(\d+)\.(\d+)\.eca\.conv\.weight',
     r'backbone.layer{s}.blocks.\2.eca.conv.weight'),
    (r'stages\.(\d+)\.(\d+)\.se\.fc\.0\.weight',
     r'backbone.layer{s}.blocks.\2.se.fc1.weight'),
    (r'stages\.(\d+)\.(\d+)\.se\.fc\.2\.weight',
     r'backbone.layer{s}.blocks.\2.se.fc2.weight'),
    (rf'stage_bns\.(\d+)\.(\d+)\.{_BN}', r'backbone.layer{s}.norms.\2.\3'),
    (r'conv_outs\.(\d+)\.weight', r'backbone.layer{s}.conv_out.weight'),
    (r'recurrent_convs\.(\d+)\.weight',
     r'backbone.layer{s}.recurrent_conv.weight'),
    (rf'bn2\.{_BN}', r'backbone.bn_hidden.\1'),
    (r'fc\.(weight|bias)', r'head.fc.\1'),
]

MOBILENET_RULES: List[Tuple[str, str]] = [
    (r'conv1\.0\.weight', r'backbone.conv1.conv.weight'),
    (rf'conv1\.1\.{_BN}', r'backbone.conv1.bn.\1'),
    (r'stages\.(\d+)\.(\d+)\.conv1x1\.0\.weight',
     r'backbone.layer{s}.blocks.\2.expand.conv.weight'),
    (rf'stages\.(\d+)\.(\d+)\.conv1x1\.1\.{_BN}',
     r'backbone.layer{s}.blocks.\2.expand.bn.\3'),
    (r'stages\.(\d+)\.(\d+)\.conv\.0\.0\.weight',
     r'backbone.layer{s}.blocks.\2.depthwise.conv.weight'),
    (rf'stages\.(\d+)\.(\d+)\.conv\.0\.1\.{_BN}',
     r'backbone.layer{s}.blocks.\2.depthwise.bn.\3'),
    (r'stages\.(\d+)\.(\d+)\.conv\.1\.weight',
     r'backbone.layer{s}.blocks.\2.project.conv.weight'),
    (rf'stages\.(\d+)\.(\d+)\.conv\.2\.{_BN}',
     r'backbone.layer{s}.blocks.\2.project.bn.\3'),
    (r'stages\.(\d+)\.(\d+)\.conv\.3\.conv\.weight',
     r'backbone.layer{s}.blocks.\2.eca.conv.weight'),
    (rf'stage_bns\.(\d+)\.(\d+)\.{_BN}', r'backbone.layer{s}.norms.\2.\3'),
    (r'conv_outs\.(\d+)\.weight', r'backbone.layer{s}.conv_out.weight'),
    (r'conv2\.0\.weight', r'backbone.conv2.conv.weight'),
    (rf'conv2\.1\.{_BN}', r'backbone.conv2.bn.\1'),
    (rf'bn2\.{_BN}', r'backbone.bn_hidden.\1'),
    (r'classifier\.1\.(weight|bias)', r'head.fc.\1'),
]

# RLA-MobileNetV2: reference recurrent conv r (one per resolution; all five are
# one module in the authors' code) -> our layers.
MOBILENET_RECURRENT = {0: (1, ), 1: (2, ), 2: (3, ), 3: (4, 5), 4: (6, 7)}
# The same names without 'ds' are models/mobilenetv2_rla.py: a dense 3x3 recurrent
# conv (k x k x 3 x 3, 3,633,096 parameters at k = 32), no published weights.
# RLAMobileNetV2's recurrent conv is depthwise, so they are refused by name.
DENSE_MOBILENET_ARCHS = tuple(name[2:] for name in MOBILENET_ARCHS)


class ConversionError(ValueError):
    """The checkpoint does not fit the architecture it claims."""


def build_reference_backbone(arch: str):
    """Build the rla_mm backbone (classification form) of a reference ``arch``.

    Args:
        arch (str): A reference architecture name, e.g. ``'rla_resnet50_eca'``.
    """
    if arch in DENSE_MOBILENET_ARCHS:
        raise ConversionError(
            f'{arch!r} is the authors\' dense-recurrent MobileNetV2 '
            '(models/mobilenetv2_rla.py: recurrent_convs, a full 3x3 conv), '
            'a different model with no published weights, which rla_mm does '
            'not build. The published RLA-MobileNetV2 weights come from '
            f'models/mobilenetv2_dsrla.py: use --arch ds{arch}')
    if arch in RESNET_ARCHS:
        return RLAResNet(out_indices=(3, ), cat_hidden=True,
                         **RESNET_ARCHS[arch])
    if arch in MOBILENET_ARCHS:
        return RLAMobileNetV2(**MOBILENET_ARCHS[arch])
    if arch in ABLATION_ARCHS:
        return RLAResNet(**ABLATION_ARCHS[arch])
    raise ConversionError(
        f'unknown reference arch {arch!r}; expected one of {ARCHS}')


def _map_key(key: str, mobilenet: bool, rules=None) -> List[str]:
    """Target keys of one reference key (empty when no rule maps it)."""
    if mobilenet:
        match = re.fullmatch(r'recurrent_dsconvs\.(\d+)\.weight', key)
        if match:
            return [f'backbone.layer{i}.recurrent_conv.weight'
                    for i in MOBILENET_RECURRENT.get(int(match.group(1)), ())]
    if rules is None:
        rules = MOBILENET_RULES if mobilenet else RESNET_RULES
    for pattern, target in rules:
        match = re.fullmatch(pattern, key)
        if match:
            if '{s}' in target:
                target = target.replace('{s}', str(int(match.group(1)) + 1))
            return [match.expand(target)]
    return []


def strip_wrapper(checkpoint) -> Tuple[Dict[str, Tensor], str]:
    """Return the bare state dict (no ``module.`` prefix) and the arch name, if any.

    Args:
        checkpoint (dict): A loaded reference checkpoint or a bare state dict.
    """
    if not isinstance(checkpoint, dict):
        raise ConversionError(
            f'expected a dict checkpoint, got {type(checkpoint).__name__}')
    arch = checkpoint.get('arch', '') if 'state_dict' in checkpoint else ''
    state_dict = checkpoint.get('state_dict', checkpoint)
    out = OrderedDict()
    for key, value in state_dict.items():
        out[key[len('module.'):] if key.startswith('module.') else key] = value
    return out, arch


def convert_state_dict(state_dict: Dict[str, Tensor],
                       arch: str) -> 'OrderedDict[str, Tensor]':
    """Map a reference state dict to rla_mm classifier keys and check it whole.

    Args:
        state_dict (dict): Reference weights without the ``module.`` prefix.
        arch (str): The reference architecture name.

    Raises:
        ConversionError: listing unmapped source keys, missing target keys and
            shape mismatches.
    """
    backbone = build_reference_backbone(arch)
    mobilenet = arch in MOBILENET_ARCHS
    rules = ablation_rules(arch, RESNET_RULES)
    expected = {f'backbone.{k}': v.shape
                for k, v in backbone.state_dict().items()}
    fc_weight = state_dict.get('fc.weight', state_dict.get('classifier.1.weight'))
    if fc_weight is not None:
        num_classes = fc_weight.shape[0]
        expected['head.fc.weight'] = torch.Size(
            (num_classes, backbone.feat_dim))
        expected['head.fc.bias'] = torch.Size((num_classes, ))

    converted, unmapped, missing, mismatched, _ = map_weights(
        state_dict, expected, lambda key: _map_key(key, mobilenet, rules))
    mismatched += shared_conflicts(backbone, converted, prefix='backbone.')
    raise_on_problems(f'checkpoint does not match reference arch {arch!r}',
                      unmapped, missing, mismatched)
    return converted


def map_weights(state_dict: Dict[str, Tensor], expected: Dict[str, torch.Size],
                targets_of: Callable[[str], List[str]],
                unread: Sequence[str] = ()):
    """Move each source weight to the target keys ``targets_of(key)`` names.

    Args:
        state_dict (dict): The source weights.
        expected (dict): The target model's keys and shapes.
        targets_of (callable): Source key -> target keys (empty: no rule).
        unread (sequence[str]): Target keys the model does not build because
            nothing reads them; a source mapped only onto them is dropped.

    Returns:
        tuple: the converted weights, the unmapped source keys, the missing
        target keys, the shape mismatches and the dropped source keys.
    """
    converted = OrderedDict()
    unmapped, mismatched, dropped = [], [], []
    for key, value in state_dict.items():
        targets = targets_of(key)
        if targets and all(t in unread for t in targets):
            dropped.append(key)
            continue
        if not targets or any(t not in expected for t in targets):
            unmapped.append(key)
            continue
        for target in targets:
            if tuple(value.shape) != tuple(expected[target]):
                mismatched.append(f'{key} {tuple(value.shape)} -> {target} '
                                  f'{tuple(expected[target])}')
            converted[target] = value
    missing = sorted(set(expected) - set(converted))
    return converted, unmapped, missing, mismatched, dropped


def shared_conflicts(model: torch.nn.Module, converted: Dict[str, Tensor],
                     prefix: str = '') -> List[str]:
    """Targets that are one tensor in ``model`` but get different values.

    RLAMobileNetV2 shares one recurrent conv among its stages, as the authors'
    code does (``recurrent_dsconvs.{0..4}`` is one module five times): loading
    different values into it would silently keep the last one.

    Args:
        model (nn.Module): The model the converted keys are for.
        converted (dict): Converted weights, keys ``prefix`` + the model's keys.
        prefix (str): Prefix of the converted keys. Default: ''.
    """
    first, conflicts = {}, []
    for key, tensor in model.state_dict(keep_vars=True).items():
        if tensor.numel() == 0 or prefix + key not in converted:
            continue
        owner = first.setdefault(tensor.data_ptr(), prefix + key)
        if owner != prefix + key and not torch.equal(converted[owner],
                                                     converted[prefix + key]):
            conflicts.append(f'{prefix + key} differs from {owner}, one shared '
                             'tensor in the model')
    return conflicts


def raise_on_problems(title: str, unmapped: List[str], missing: List[str],
                      mismatched: List[str]) -> None:
    """Raise one :class:`ConversionError` listing every problem, if any.

    Args:
        title (str): What did not match, the first line of the message.
        unmapped (list[str]): Source keys that no rule maps to the target.
        missing (list[str]): Target keys that no source key provides.
        mismatched (list[str]): Shape (or shared-value) mismatches.
    """
    if not (unmapped or missing or mismatched):
        return
    lines = [f'{title}:']
    for name, keys in (('unmapped source keys', unmapped),
                       ('missing target keys', missing),
                       ('shape mismatches', mismatched)):
        if keys:
            lines.append(f'  {name} ({len(keys)}): ' + ', '.join(keys[:20])
                         + (' ...' if len(keys) > 20 else ''))
    raise ConversionError('\n'.join(lines))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Convert an authors' RLANet ImageNet checkpoint into an "
        'rla_mm classifier checkpoint.')
    parser.add_argument('src', help='reference checkpoint (.pth.tar / .pth)')
    parser.add_argument('dst', help='where to write the rla_mm checkpoint')
    parser.add_argument(
        '--arch', metavar='ARCH',
        help='reference architecture, when the checkpoint has no "arch" entry: '
        + ', '.join(ARCHS))
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.src):
        print(f'error: source checkpoint {args.src!r} does not exist',
              file=sys.stderr)
        return 1
    checkpoint = load_foreign(args.src)
    try:
        state_dict, arch = strip_wrapper(checkpoint)
        arch = args.arch or arch
        if not arch:
            raise ConversionError(
                f'{args.src} has no "arch" entry; pass --arch (one of {ARCHS})')
        converted = convert_state_dict(state_dict, arch)
    except ConversionError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    dst_dir = osp.dirname(osp.abspath(args.dst))
    os.makedirs(dst_dir, exist_ok=True)
    torch.save(
        dict(state_dict=converted,
             meta=dict(source=osp.basename(args.src), arch=arch,
                       converter='rla_mm rlanet_to_rla_mm')), args.dst)
    # A shared tensor (RLA-MobileNetV2's recurrent conv) is counted once.
    params = {id(v): v.numel() for k, v in converted.items()
              if not k.endswith(('running_mean', 'running_var',
                                 'num_batches_tracked'))}
    print(f'converted {arch}: {len(converted)} tensors, '
          f'{sum(params.values()):,} parameters')
    print(f'wrote {args.dst}')
    configs = {m['Metadata'].get('Reference Arch'): m['Config']
               for name in ('metafile.yml', 'ablation/metafile.yml')
               for m in load_metafile(name).values()}
    if arch in configs:
        print(f'classifier config: {configs[arch]}')
    return 0



if __name__ == '__main__':
    sys.exit(main())
