"""The authors' ImageNet ablation models (paper Tables 6 and 15) for the converter.

Each ablation file of the authors' repository is a copy of the whole ResNet; in
rla_mm each is an option of :class:`~rla_mm.models.RLAResNet`. Arch names are the
factory names of those files (what their training script saves as ``arch``).
``rla_source`` follows what each file computes: most of them keep ``y = out`` and
then add the shortcut in place, so their "y" is the block output ('output', the
RLAResNet default); the unshared file adds out of place and so reads the branch
output. The heads follow each file too (``bn2`` then tanh, ReLU, or h alone).

Used by :mod:`rla_mm.convert_rlanet`; ``configs/ablation/README.md`` tables them.
"""
from typing import Dict, List, Optional, Tuple

_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
_CLASSIFIER = dict(depth=50, out_indices=(3, ), cat_hidden=True)
_NO_HEAD_NORM = dict(hidden_norm=False, hidden_act='none')
_LSTM = dict(rla_cell='lstm', **_NO_HEAD_NORM)
_GRU = dict(rla_cell='gru', **_NO_HEAD_NORM)
_UNSHARED = dict(rla_source='branch', rla_shared=False)

# Reference arch -> RLAResNet keyword arguments (classification form).
ABLATION_ARCHS: Dict[str, dict] = {
    name: {**_CLASSIFIER, **kwargs}
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
        'resnet50_k': dict(rla_channel=0, cat_hidden=False,
                           extra_channels=32),
    }.items()
}

# Keys that only some ablation layouts have ({s}: the stage, numbered from 1).
_LSTM_RULES = [(r'recurrent_convs\.(\d+)\.conv\.weight',
                r'backbone.layer{s}.recurrent_conv.conv.weight')]
_GRU_RULES = [
    (r'recurrent_convs\.(\d+)\.(gate_conv|output_conv)\.(weight|bias)',
     r'backbone.layer{s}.recurrent_conv.\2.\3'),
    (r'recurrent_convs\.(\d+)\.(reset_gate_norm|update_gate_norm|output_norm)'
     r'\.(weight|bias)', r'backbone.layer{s}.recurrent_conv.\2.\3'),
]
_UNSHARED_RULES = [
    (r'stages\.(\d+)\.(\d+)\.conv_out\.weight',
     r'backbone.layer{s}.conv_out.\2.weight'),
    (r'stages\.(\d+)\.(\d+)\.recurrent_conv\.weight',
     r'backbone.layer{s}.recurrent_conv.\2.weight'),
    (rf'stages\.(\d+)\.(\d+)\.bn_rla\.{_BN}', r'backbone.layer{s}.norms.\2.\3'),
]
# torchvision's layout (layer1 ... layer4, numbered from 1 already).
PLAIN_RULES: List[Tuple[str, str]] = [
    (r'conv1\.weight', r'backbone.conv1.weight'),
    (rf'bn1\.{_BN}', r'backbone.bn1.\1'),
    (r'layer(\d)\.(\d+)\.conv([123])\.weight',
     r'backbone.layer\1.blocks.\2.conv\3.weight'),
    (rf'layer(\d)\.(\d+)\.bn([123])\.{_BN}',
     r'backbone.layer\1.blocks.\2.bn\3.\4'),
    (r'layer(\d)\.0\.downsample\.0\.weight',
     r'backbone.layer\1.blocks.0.downsample.0.weight'),
    (rf'layer(\d)\.0\.downsample\.1\.{_BN}',
     r'backbone.layer\1.blocks.0.downsample.1.\2'),
    (r'fc\.(weight|bias)', r'head.fc.\1'),
]


def ablation_rules(arch: str, resnet_rules: List[Tuple[str, str]]
                   ) -> Optional[List[Tuple[str, str]]]:
    """The key rules of an ablation ``arch``, or None if it is not one.

    Args:
        arch (str): A reference architecture name.
        resnet_rules (list[tuple[str, str]]): The rules of the main RLA-ResNet
            layout, which the RLA ablation files share.
    """
    if arch not in ABLATION_ARCHS:
        return None
    if arch.startswith('resnet'):
        return PLAIN_RULES
    extra = {'rlalstm': _LSTM_RULES, 'rlagru': _GRU_RULES,
             'rlaus': _UNSHARED_RULES}.get(arch.split('_')[0], [])
    return extra + resnet_rules
