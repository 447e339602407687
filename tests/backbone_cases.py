"""The backbones the contract test builds: small widths of every registered RLA
backbone, and the option choices it runs them with.

``tests/fixtures/record_backbone_keys.py`` records the state_dict keys of the same
cases, so this file is read by the code of any revision; keep it free of imports
from rla_mm.
"""
from typing import Dict, Iterator, List, Tuple

# Backbone type -> (number of outputs, {variant: keyword arguments}). Every RLA
# backbone in the registry needs an entry (the contract test fails otherwise).
TINY: Dict[str, Tuple[int, Dict[str, dict]]] = {
    'RLAResNet': (4, {
        'basic': dict(depth=18, rla_channel=4, stem_channels=8,
                      base_channels=8),
        'bottleneck-eca': dict(depth=50, rla_channel=4, stem_channels=8,
                               base_channels=8, eca=True),
        'resnext-se': dict(depth=50, rla_channel=4, stem_channels=8,
                           base_channels=8, groups=2, base_width=32, se=4),
    }),
    'RLAResNetV1d': (4, {
        'basic': dict(depth=18, rla_channel=4, stem_channels=8,
                      base_channels=8),
    }),
    # The twins of MMDetection's and MMPretrain's ResNet family.
    'RLAResNetV1c': (4, {
        'basic': dict(depth=18, rla_channel=4, stem_channels=8,
                      base_channels=8),
    }),
    'RLAResNeXt': (4, {
        'bottleneck': dict(depth=50, rla_channel=4, stem_channels=8,
                           base_channels=8, groups=2, width_per_group=32),
    }),
    'RLASEResNet': (4, {
        'bottleneck': dict(depth=50, rla_channel=4, stem_channels=8,
                           base_channels=8, se_ratio=4),
    }),
    'RLASEResNeXt': (4, {
        'bottleneck': dict(depth=50, rla_channel=4, stem_channels=8,
                           base_channels=8, groups=2, base_width=32,
                           se_ratio=4),
    }),
    'RLAMobileNetV2': (8, {
        'quarter': dict(rla_channel=4, widen_factor=0.25),
    }),
    'RLAPreActResNet': (3, {
        'basic': dict(depth=20, rla_channel=4, base_channels=4),
        'bottleneck': dict(depth=164, rla_channel=4, base_channels=4),
        'plain': dict(depth=20, rla_channel=0, base_channels=4),
    }),
    # Two stages at the stem resolution (one shared recurrent conv), a strided
    # residual stage with a projection, a strided plain (exit-conv) stage.
    'RLAXception': (4, {
        'thin': dict(arch=(((8, 8), 1, 1, True), ((12, ), 1, 1, True),
                           ((12, 16), 2, 2, True), ((16, ), 1, 2, False)),
                     stem_channels=8, rla_channel=4),
        'plain': dict(arch=(((8, 8), 1, 1, True), ((12, ), 1, 1, True),
                            ((12, 16), 2, 2, True), ((16, ), 1, 2, False)),
                      stem_channels=8, rla_channel=0),
    }),
}

# The full-size models of the configs: their keys and parameter counts are the
# checkpoint layout.
DEFAULTS: Dict[str, Tuple[str, dict]] = {
    'rla_resnet50_cls': ('RLAResNet', dict(depth=50, out_indices=(3, ),
                                           cat_hidden=True)),
    'rla_eca_resnet50_cls': ('RLAResNet', dict(depth=50, out_indices=(3, ),
                                               cat_hidden=True, eca=True)),
    'rla_resnet50_det': ('RLAResNet', dict(depth=50)),
    'rla_resnet50d_cls': ('RLAResNetV1d', dict(depth=50, out_indices=(3, ),
                                               cat_hidden=True)),
    'rla_mobilenet_v2': ('RLAMobileNetV2', dict()),
    'rla_eca_mobilenet_v2': ('RLAMobileNetV2', dict(eca=True)),
    'rla_resnet110_cifar': ('RLAPreActResNet', dict(depth=110,
                                                    rla_channel=4)),
    'rla_resnet164_cifar': ('RLAPreActResNet', dict(depth=164)),
    'rla_xception_cifar': ('RLAXception', dict()),
}

INPUT_SIZE = (35, 37)  # odd on purpose


def out_index_choices(num_outputs: int) -> Dict[str, Tuple[int, ...]]:
    """All outputs, the last only, and two early ones (no last, a gap)."""
    return {
        'all': tuple(range(num_outputs)),
        'last': (num_outputs - 1, ),
        'early': tuple(sorted({0, num_outputs - 2})),
    }


def cases() -> Iterator[Tuple[str, str, dict]]:
    """Yield ``(case id, backbone type, kwargs)`` for every valid combination.

    cat_hidden=True needs the last output and a hidden state; the other
    combinations are bad arguments, tested as such.
    """
    for type_name, (num_outputs, variants) in TINY.items():
        for variant, kwargs in variants.items():
            for cat_hidden in (False, True):
                for sel, out_indices in out_index_choices(num_outputs).items():
                    if cat_hidden and (kwargs['rla_channel'] == 0
                                       or num_outputs - 1 not in out_indices):
                        continue
                    yield (f'{type_name}-{variant}-cat{int(cat_hidden)}-{sel}',
                           type_name,
                           dict(kwargs, cat_hidden=cat_hidden,
                                out_indices=out_indices))


def case_list() -> List[Tuple[str, str, dict]]:
    return list(cases())
