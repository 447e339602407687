"""The authors' RLANet classifier checkpoints (ImageNet, with their ablation
files) to ``backbone.*`` / ``head.*`` of an MMPretrain ``ImageClassifier``.

The arch names are the factory names of the authors' code (what their
training script saves as ``arch``); each ablation file is an option of
:class:`~rla_mm.models.RLAResNet` here, with the ``rla_source`` and head that
file computes (``configs/ablation/README.md`` tables them; docs/weights.md
describes the checkpoint format).
"""
import os
import os.path as osp
import re
from typing import Dict, List, Optional

import torch
from torch import Tensor

from ..models import CLASSIFIER_FORM, RLAMobileNetV2, RLAResNet
from ..safe_loading import load_foreign
from ._mapping import (BN, ConversionError, Rules, apply_rules, map_weights,
                       raise_on_problems, shared_conflicts, strip_wrapper)

# Reference arch name -> keyword arguments of RLAResNet (classification form).
_RESNET_BODIES = {
    'resnet50': dict(depth=50),
    'resnet101': dict(depth=101),
    'resnet152': dict(depth=152),
    'resnext50_32x4d': dict(depth=50, groups=32, base_width=4),
    'resnext101_32x4d': dict(depth=101, groups=32, base_width=4),
}
_ATTENTION_SUFFIXES = {'': {}, '_eca': dict(eca=True), '_se': dict(se=True)}
RESNET_ARCHS = {
    f'rla_{body}{suffix}': {
        **body_kwargs,
        **attention
    }
    for body, body_kwargs in _RESNET_BODIES.items()
    for suffix, attention in _ATTENTION_SUFFIXES.items()
}
# RLA-MobileNetV2: the factories of the authors' models/mobilenetv2_dsrla.py,
# the code of their published weights (dsrla_mobilenetv2_k32_2762,
# ..._k32_eca_2707).
_MOBILENET_KS = (('', 32), ('_k6', 6), ('_k12', 12), ('_k24', 24), ('_k32',
                                                                    32))
MOBILENET_ARCHS = {
    f'dsrla_mobilenetv2{k_name}{suffix}':
    dict(rla_channel=k, eca=True if suffix else None)
    for k_name, k in _MOBILENET_KS
    for suffix in ('', '_eca')
}
# The same names without 'ds' are models/mobilenetv2_rla.py: a dense 3x3
# recurrent conv (k x k x 3 x 3, 3,633,096 parameters at k = 32), no published
# weights. RLAMobileNetV2's recurrent conv is depthwise, so they are refused by
# name.
DENSE_MOBILENET_ARCHS = tuple(name[2:] for name in MOBILENET_ARCHS)

# The ablation files (paper Tables 6 and 15) -> RLAResNet keyword arguments.
_NO_HEAD_NORM = dict(hidden_norm=False, hidden_act='none')
_LSTM = dict(rla_cell='lstm', **_NO_HEAD_NORM)
_GRU = dict(rla_cell='gru', **_NO_HEAD_NORM)
_UNSHARED = dict(rla_source='branch', rla_shared=False)
ABLATION_ARCHS: Dict[str, dict] = {
    name: {
        'depth': 50,
        **CLASSIFIER_FORM,
        **kwargs
    }
    for name, kwargs in {
        'rlav1_resnet50': dict(hidden_act='tanh'),
        'rlav1_resnet50_eca': dict(hidden_act='tanh', eca=True),
        'rlav2_resnet50': dict(rla_add='after'),
        'rlav3_resnet50': dict(),
        'rlav4_resnet50': dict(rla_add='after'),
        'rlav5_resnet50': dict(rla_source='shortcut'),
        'rlav6_resnet50': dict(rla_source='shortcut', rla_add='after'),
        'rlaus_resnet50': _UNSHARED,
        'rlaus_resnet101': dict(depth=101, **_UNSHARED),
        'rlarh_resnet50': dict(rla_exchange=False),
        'rlalstm_resnet50': _LSTM,
        'rlagru_resnet50': _GRU,
        'rlagru_resnet50_eca': dict(eca=True, **_GRU),
        'rlagru_resnet101': dict(depth=101, **_GRU),
        'rlagru_resnet101_eca': dict(depth=101, eca=True, **_GRU),
        'rlav1p_resnet50': dict(rla_act='post', **_NO_HEAD_NORM),
        # plain ResNets (torchvision layout): the baseline and channel + 32
        'resnet50': dict(rla_channel=0, cat_hidden=False),
        'resnet50_k': dict(rla_channel=0, cat_hidden=False, extra_channels=32),
    }.items()
}

ARCHS = sorted(RESNET_ARCHS) + sorted(MOBILENET_ARCHS) + sorted(ABLATION_ARCHS)

# ---------------------------------------------------------------- key rules
# {s}: the stage, the authors' index + 1


def _block_rules(parts: Dict[str, str], block: str = r'(\d+)') -> Rules:
    """Rules of per-block modules: each of the authors' ``stages.S.B.<theirs>``
    (a conv's weight or a norm's tensors) -> ``backbone.layer{s}.B.<ours>``.

    Args:
        parts (dict): Their module pattern -> ours; ours refers to the
            pattern's groups from ``\3``.
        block (str): The pattern of the block index B (one group).
    """
    rules = []
    for theirs, ours in parts.items():
        tensor = 3 + re.compile(theirs).groups  # the group of the tensor name
        rules.append((rf'stages\.(\d+)\.{block}\.{theirs}\.{BN}',
                      rf'backbone.layer{{s}}.\2.{ours}.\{tensor}'))
    return rules


# The RLA parts of a stage, and the classifier's norm of h, in both families.
_RLA_RULES: Rules = [
    (rf'stage_bns\.(\d+)\.(\d+)\.{BN}', r'backbone.layer{s}.norms.\2.\3'),
    (r'conv_outs\.(\d+)\.weight', r'backbone.layer{s}.conv_out.weight'),
    (rf'bn2\.{BN}', r'backbone.bn_hidden.\1'),
]
RESNET_RULES: Rules = [
    (r'conv1\.weight', r'backbone.conv1.weight'),
    (rf'bn1\.{BN}', r'backbone.bn1.\1'),
    *_block_rules({
        r'(conv|bn)([123])': r'\3\4',
        r'eca\.conv': 'eca.conv',
        r'se\.fc\.0': 'se.fc1',
        r'se\.fc\.2': 'se.fc2'
    }),
    *_block_rules({r'downsample\.([01])': r'downsample.\3'}, block='(0)'),
    *_RLA_RULES,
    (r'recurrent_convs\.(\d+)\.weight',
     r'backbone.layer{s}.recurrent_conv.weight'),
    (r'fc\.(weight|bias)', r'head.fc.\1'),
]

MOBILENET_RULES: Rules = [
    (r'conv([12])\.0\.weight', r'backbone.conv\1.conv.weight'),
    (rf'conv([12])\.1\.{BN}', r'backbone.conv\1.bn.\2'),
    *_block_rules({
        r'conv1x1\.0': 'expand.conv',
        r'conv1x1\.1': 'expand.bn',
        r'conv\.0\.0': 'depthwise.conv',
        r'conv\.0\.1': 'depthwise.bn',
        r'conv\.1': 'project.conv',
        r'conv\.2': 'project.bn',
        r'conv\.3\.conv': 'eca.conv'
    }),
    *_RLA_RULES,
    (r'classifier\.1\.(weight|bias)', r'head.fc.\1'),
]
# RLA-MobileNetV2: reference recurrent conv r (one per resolution; all five are
# one module in the authors' code) -> our layers.
MOBILENET_RECURRENT = {0: (1, ), 1: (2, ), 2: (3, ), 3: (4, 5), 4: (6, 7)}

# Keys that only some ablation layouts have.
_LSTM_RULES: Rules = [(r'recurrent_convs\.(\d+)\.conv\.weight',
                       r'backbone.layer{s}.recurrent_conv.conv.weight')]
_GRU_RULES: Rules = [
    (r'recurrent_convs\.(\d+)\.(gate_conv|output_conv)\.(weight|bias)',
     r'backbone.layer{s}.recurrent_conv.\2.\3'),
    (r'recurrent_convs\.(\d+)\.(reset_gate_norm|update_gate_norm|output_norm)'
     r'\.(weight|bias)', r'backbone.layer{s}.recurrent_conv.\2.\3'),
]
_UNSHARED_RULES: Rules = [
    (r'stages\.(\d+)\.(\d+)\.conv_out\.weight',
     r'backbone.layer{s}.conv_out.\2.weight'),
    (r'stages\.(\d+)\.(\d+)\.recurrent_conv\.weight',
     r'backbone.layer{s}.recurrent_conv.\2.weight'),
    (rf'stages\.(\d+)\.(\d+)\.bn_rla\.{BN}', r'backbone.layer{s}.norms.\2.\3'),
]
_ABLATION_EXTRA_RULES = {
    'rlalstm': _LSTM_RULES,
    'rlagru': _GRU_RULES,
    'rlaus': _UNSHARED_RULES
}


def rules_of(arch: str) -> Rules:
    """The key rules of the layout of ``arch`` (MobileNetV2's shared
    recurrent conv aside, see :func:`targets_of`)."""
    if arch in MOBILENET_ARCHS:
        return MOBILENET_RULES
    if arch in ABLATION_ARCHS:
        return _ABLATION_EXTRA_RULES.get(arch.split('_')[0], []) + RESNET_RULES
    return RESNET_RULES


def targets_of(key: str, arch: str) -> List[str]:
    """The rla_mm keys of one reference key (without ``module.``) of
    ``arch``; empty when no rule maps it."""
    if arch in MOBILENET_ARCHS:
        match = re.fullmatch(r'recurrent_dsconvs\.(\d+)\.weight', key)
        if match:
            return [
                f'backbone.layer{i}.recurrent_conv.weight'
                for i in MOBILENET_RECURRENT.get(int(match.group(1)), ())
            ]
    if arch in ABLATION_ARCHS and arch.startswith('resnet'):
        # torchvision's layout: the authors' with stages.S named layer{S + 1}
        if key.startswith('stages.'):
            return []
        key = re.sub(r'^layer(\d)\.', lambda m: f'stages.{int(m[1]) - 1}.',
                     key)
    target = apply_rules(key, rules_of(arch))
    return [] if target is None else [target]


def build_reference_backbone(arch: str):
    """The rla_mm backbone (classification form) of a reference ``arch``,
    e.g. ``'rla_resnet50_eca'``."""
    if arch in DENSE_MOBILENET_ARCHS:
        raise ConversionError(
            f'{arch!r} is the authors\' dense-recurrent MobileNetV2 '
            '(models/mobilenetv2_rla.py: recurrent_convs, a full 3x3 conv), '
            'a different model with no published weights, which rla_mm does '
            'not build. The published RLA-MobileNetV2 weights come from '
            f'models/mobilenetv2_dsrla.py: use --arch ds{arch}')
    if arch in RESNET_ARCHS:
        return RLAResNet(**CLASSIFIER_FORM, **RESNET_ARCHS[arch])
    if arch in MOBILENET_ARCHS:
        return RLAMobileNetV2(**MOBILENET_ARCHS[arch])
    if arch in ABLATION_ARCHS:
        return RLAResNet(**ABLATION_ARCHS[arch])
    raise ConversionError(
        f'unknown reference arch {arch!r}; expected one of {ARCHS}')


def convert_state_dict(state_dict: Dict[str, Tensor],
                       arch: str) -> Dict[str, Tensor]:
    """Map a reference state dict to rla_mm classifier keys and check it whole.

    Args:
        state_dict (dict): Reference weights without the ``module.`` prefix.
        arch (str): The reference architecture name.

    Raises:
        ConversionError: listing unmapped source keys, missing target keys and
            shape mismatches.
    """
    backbone = build_reference_backbone(arch)
    expected = {
        f'backbone.{k}': v.shape
        for k, v in backbone.state_dict().items()
    }
    fc_weight = state_dict.get('fc.weight',
                               state_dict.get('classifier.1.weight'))
    if fc_weight is not None:
        num_classes = fc_weight.shape[0]
        expected['head.fc.weight'] = torch.Size(
            (num_classes, backbone.feat_dim))
        expected['head.fc.bias'] = torch.Size((num_classes, ))

    converted, unmapped, missing, mismatched, _ = map_weights(
        state_dict, expected, lambda key: targets_of(key, arch))
    mismatched += shared_conflicts(backbone, converted, prefix='backbone.')
    raise_on_problems(f'checkpoint does not match reference arch {arch!r}',
                      unmapped, missing, mismatched)
    return converted


def load_reference(path: str) -> dict:
    """Load one of the authors' checkpoints (``weights_only`` where torch has
    it); ``ConversionError`` when ``path`` is not a file."""
    if not osp.isfile(path):
        raise ConversionError(f'source checkpoint {path!r} does not exist')
    return load_foreign(path)


def arch_of(checkpoint, source: str, arch: Optional[str] = None) -> str:
    """The arch to convert ``checkpoint`` (from the file ``source``) as:
    ``arch`` if given, else its own."""
    arch = arch or strip_wrapper(checkpoint)[1]
    if not arch:
        raise ConversionError(
            f'{source} has no "arch" entry; pass --arch (one of {ARCHS})')
    return arch


def save_converted(dst: str, converted: Dict[str, Tensor], source: str,
                   arch: str) -> None:
    """Write a converted classifier checkpoint, creating its folder; the
    source file's name and the arch are kept in ``meta``."""
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(
        dict(
            state_dict=converted,
            meta=dict(
                source=source, arch=arch,
                converter='rla_mm rlanet_to_rla_mm')), dst)


# blocks per stage of the authors' RLA-ResNets -> depth
_STAGE_BLOCKS = {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152}


def layout_arch(state_dict: Dict[str, Tensor]) -> Optional[str]:
    """The arch of :data:`RESNET_ARCHS` or :data:`MOBILENET_ARCHS` whose key
    layout ``state_dict`` has (depth, width, ECA / SE, k), or None.

    The ablation files share these layouts (RLA-v2 ... v6 have
    RLA-ResNet-50's), so a checkpoint of theirs needs its ``arch`` entry or
    ``--arch``; :func:`convert_state_dict` checks every key.
    """
    if 'recurrent_dsconvs.0.weight' in state_dict \
            and 'conv_outs.0.weight' in state_dict:
        k = state_dict['conv_outs.0.weight'].shape[0]
        eca = any(key.endswith('.conv.3.conv.weight') for key in state_dict)
        name = f'dsrla_mobilenetv2_k{k}{"_eca" if eca else ""}'
        return name if name in MOBILENET_ARCHS else None
    if 'stages.0.0.conv2.weight' not in state_dict \
            or 'conv_outs.0.weight' not in state_dict:
        return None
    blocks = [0, 0, 0, 0]
    for key in state_dict:
        match = re.match(r'stages\.([0-3])\.(\d+)\.', key)
        if match:
            stage, block = int(match.group(1)), int(match.group(2))
            blocks[stage] = max(blocks[stage], block + 1)
    depth = _STAGE_BLOCKS.get(tuple(blocks))
    conv2 = state_dict['stages.0.0.conv2.weight'].shape
    body = (f'resnet{depth}'
            if conv2[1] == conv2[0] else f'resnext{depth}_32x4d')
    suffix = ('_eca' if any(
        k.endswith('.eca.conv.weight')
        for k in state_dict) else '_se' if any('.se.fc.' in k
                                               for k in state_dict) else '')
    name = f'rla_{body}{suffix}'
    return name if name in RESNET_ARCHS else None


def model_title(arch: str) -> str:
    """A reader's name of a reference arch, e.g. 'RLA-ECA-ResNet-50'."""
    if arch in RESNET_ARCHS:
        kwargs = RESNET_ARCHS[arch]
        body = (f'ResNeXt-{kwargs["depth"]} 32x4d'
                if kwargs.get('groups') else f'ResNet-{kwargs["depth"]}')
        attention = 'ECA-' if kwargs.get('eca') else \
            'SE-' if kwargs.get('se') else ''
        return f'RLA-{attention}{body}'
    if arch in MOBILENET_ARCHS:
        kwargs = MOBILENET_ARCHS[arch]
        k = kwargs['rla_channel']
        return (f'RLA-{"ECA-" if kwargs["eca"] else ""}MobileNetV2' +
                ('' if k == 32 else f' (k = {k})'))
    return arch
