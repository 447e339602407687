"""The one per-backbone case table: every registered RLA backbone, in one
entry.

An entry gives, for one backbone type:

* ``outputs``: its number of outputs with every stage selected;
* ``tiny``: small-width variants that the contract test
  (``tests/unit/test_models/test_backbone_contract.py``) builds with each
  ``out_indices`` / ``cat_hidden`` choice of :func:`cases`;
* ``full``: full-size cases that the precision and layout checks
  (:mod:`rla_mm.testing.gpu_checks`: ``tools/analysis_tools/gpu_check.py`` and
  ``tests/cuda``) run, each a :class:`FullCase` with the input side and the
  plain twin, the same network without RLA, whose rounding error sets the
  allowance.

The twins are MMPretrain's or rla_mm's own networks: those import with
mmcv-lite (no compiled ops), where MMDetection's models do not.

Adding a backbone means adding one entry to :data:`BACKBONES`. The contract
test and the checks fail for a registered backbone that has none.

``.dev_scripts/fixtures/record_backbone_keys.py`` records the state_dict keys
of the same cases with the rla_mm of any revision on ``PYTHONPATH``, so this
file is read on its own (``PYTHONPATH=OLD_CHECKOUT:rla_mm/testing``): keep it
free of imports from rla_mm and of relative imports.
"""
from typing import Dict, Iterator, List, NamedTuple, Tuple


class FullCase(NamedTuple):
    """A full-size case of the precision and layout checks."""
    kwargs: dict  # constructor arguments of the RLA backbone
    side: int  # square input side
    twin: str  # registry name of the plain twin, with its scope
    twin_kwargs: dict  # the twin's constructor arguments


_RESNET_OUTS = dict(out_indices=(0, 1, 2, 3))
_XCEPTION_THIN = (((8, 8), 1, 1, True), ((12, ), 1, 1, True),
                  ((12, 16), 2, 2, True), ((16, ), 1, 2, False))

_TINY_RESNET = dict(rla_channel=4, stem_channels=8, base_channels=8)


def _resnet_entry(twin: str,
                  tiny: Dict[str, dict],
                  full: dict = {},
                  more: Tuple[FullCase, ...] = ()) -> dict:
    """An entry of the ResNet family: four outputs; ``tiny`` variants at small
    widths; the depth-50 network with ``full`` beside MMPretrain's ``twin``
    with the same arguments, then ``more`` full cases."""
    return dict(
        outputs=4,
        tiny={
            name: dict(kwargs, **_TINY_RESNET)
            for name, kwargs in tiny.items()
        },
        full=(FullCase(
            dict(depth=50, **full), 224, f'mmpretrain.{twin}',
            dict(depth=50, **full, **_RESNET_OUTS)), ) + more)


BACKBONES: Dict[str, dict] = {
    'RLAResNet':
    _resnet_entry(
        'ResNet',
        tiny={
            'basic': dict(depth=18),
            'bottleneck-eca': dict(depth=50, eca=True),
            'resnext-se': dict(depth=50, groups=2, base_width=32, se=4),
        },
        more=(
            FullCase(
                dict(depth=50, eca=True), 225, 'mmpretrain.ResNet',
                dict(depth=50, **_RESNET_OUTS)),
            FullCase(
                dict(depth=50, out_indices=(3, ), cat_hidden=True), 224,
                'mmpretrain.ResNet', dict(depth=50, out_indices=(3, ))),
        )),
    'RLAResNetV1d':
    _resnet_entry('ResNetV1d', tiny={'basic': dict(depth=18)}),
    # The twins of MMDetection's and MMPretrain's ResNet family.
    'RLAResNetV1c':
    _resnet_entry('ResNetV1c', tiny={'basic': dict(depth=18)}),
    'RLAResNeXt':
    _resnet_entry(
        'ResNeXt',
        tiny={'bottleneck': dict(depth=50, groups=2, width_per_group=32)},
        full=dict(groups=32, width_per_group=4)),
    'RLASEResNet':
    _resnet_entry('SEResNet', tiny={'bottleneck': dict(depth=50, se_ratio=4)}),
    'RLASEResNeXt':
    _resnet_entry(
        'SEResNeXt',
        tiny={
            'bottleneck': dict(depth=50, groups=2, base_width=32, se_ratio=4)
        },
        full=dict(groups=32, width_per_group=4)),
    'RLAResNet_CIFAR':
    dict(
        outputs=4,
        tiny={'basic': dict(depth=18, **_TINY_RESNET)},
        full=(FullCase(
            dict(depth=50, **_RESNET_OUTS), 32, 'mmpretrain.ResNet_CIFAR',
            dict(depth=50, **_RESNET_OUTS)), )),
    'RLAMobileNetV2':
    dict(
        outputs=8,
        tiny={
            'quarter': dict(rla_channel=4, widen_factor=0.25),
        },
        full=(
            FullCase(dict(), 224, 'mmpretrain.MobileNetV2',
                     dict(out_indices=(7, ))),
            FullCase(
                dict(eca=True), 225, 'mmpretrain.MobileNetV2',
                dict(out_indices=(7, ))),
        )),
    'RLAPreActResNet':
    dict(
        outputs=3,
        tiny={
            'basic': dict(depth=20, rla_channel=4, base_channels=4),
            'bottleneck': dict(depth=164, rla_channel=4, base_channels=4),
            'plain': dict(depth=20, rla_channel=0, base_channels=4),
        },
        full=(
            FullCase(
                dict(depth=164), 32, 'rla_mm.RLAPreActResNet',
                dict(depth=164, rla_channel=0, cat_hidden=False)),
            FullCase(
                dict(depth=110, rla_channel=4), 33, 'rla_mm.RLAPreActResNet',
                dict(depth=110, rla_channel=0, cat_hidden=False)),
        )),
    # Tiny: two stages at the stem resolution (one shared recurrent conv), a
    # strided residual stage with a projection, a strided plain (exit-conv)
    # stage.
    'RLAXception':
    dict(
        outputs=4,
        tiny={
            'thin': dict(arch=_XCEPTION_THIN, stem_channels=8, rla_channel=4),
            'plain': dict(arch=_XCEPTION_THIN, stem_channels=8, rla_channel=0),
        },
        full=(FullCase(dict(), 32, 'rla_mm.RLAXception',
                       dict(rla_channel=0, cat_hidden=False)), )),
}

# Views of BACKBONES. TINY: type -> (number of outputs, {variant: kwargs}).
TINY: Dict[str, Tuple[int, Dict[str, dict]]] = {
    name: (entry['outputs'], entry['tiny'])
    for name, entry in BACKBONES.items()
}
# FULL: type -> the full-size cases of the precision and layout checks.
FULL: Dict[str, Tuple[FullCase, ...]] = {
    name: entry['full']
    for name, entry in BACKBONES.items()
}

# The full-size models of the configs: their keys and parameter counts are the
# checkpoint layout.
DEFAULTS: Dict[str, Tuple[str, dict]] = {
    'rla_resnet50_cls':
    ('RLAResNet', dict(depth=50, out_indices=(3, ), cat_hidden=True)),
    'rla_eca_resnet50_cls':
    ('RLAResNet', dict(depth=50, out_indices=(3, ), cat_hidden=True,
                       eca=True)),
    'rla_resnet50_det': ('RLAResNet', dict(depth=50)),
    'rla_resnet50d_cls': ('RLAResNetV1d',
                          dict(depth=50, out_indices=(3, ), cat_hidden=True)),
    'rla_mobilenet_v2': ('RLAMobileNetV2', dict()),
    'rla_eca_mobilenet_v2': ('RLAMobileNetV2', dict(eca=True)),
    'rla_resnet110_cifar': ('RLAPreActResNet', dict(depth=110, rla_channel=4)),
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
                           dict(
                               kwargs,
                               cat_hidden=cat_hidden,
                               out_indices=out_indices))


def case_list() -> List[Tuple[str, str, dict]]:
    return list(cases())


def full_case_id(type_name: str, case: FullCase) -> str:
    """A readable id: ``RLAResNet(depth=50, eca=True) 225x225``."""
    args = ', '.join(f'{k}={v}' for k, v in case.kwargs.items())
    return f'{type_name}({args}) {case.side}x{case.side}'
