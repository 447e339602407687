"""The converter for the authors' checkpoints, checked against a functional
forward."""
import json
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from rla_testkit import key_layouts
from rla_testkit import rla_functional as ref
from rla_testkit.checkout import FIXTURES, REPO_ROOT, load_tool
from rla_testkit.reference_checkpoints import write_reference_checkpoint

from rla_mm.converters import ConversionError
from rla_mm.converters.rlanet import convert_state_dict

convert_main = load_tool('model_converters/rlanet_to_rla_mm.py').main
CONFIGS = osp.join(REPO_ROOT, 'configs')


def build_classifier(config, num_classes, checkpoint):
    from mmpretrain import get_model
    cfg = Config.fromfile(osp.join(CONFIGS, config))
    cfg.model.head.num_classes = num_classes
    return get_model(cfg, pretrained=checkpoint).eval()


CASES = [
    ('rla_resnet50', 'rla_resnet50_4xb64_in1k.py', {}),
    ('rla_resnet50_eca', 'rla_eca_resnet50_4xb64_in1k.py',
     dict(eca=(5, 5, 5, 7))),
    ('rla_resnext50_32x4d_se', 'rla_resnet50_4xb64_in1k.py',
     dict(se=16, groups=32, width_per_group=4)),
]  # RLA-MobileNetV2: test_every_dsrla_mobilenet_arch_converts_to_our_config


@pytest.mark.parametrize('arch,config,kwargs', CASES)
def test_converted_classifier_matches_the_functional_forward(
        tmp_path, capsys, arch, config, kwargs):
    sd = ref.random_resnet_state_dict(50, num_classes=10, **kwargs)
    src, dst = tmp_path / 'ref.pth.tar', tmp_path / 'rla_mm.pth'
    write_reference_checkpoint(src, sd, arch)
    assert convert_main([str(src), str(dst)]) == 0
    assert f'converted {arch}' in capsys.readouterr().out

    model = build_classifier(config, 10, str(dst))
    if 'resnext' in arch:  # no config of ours: adjust the backbone in place
        from mmpretrain import get_model
        cfg = Config.fromfile(osp.join(CONFIGS, config))
        cfg.model.head.num_classes = 10
        cfg.model.backbone.update(groups=32, base_width=4, se=16)
        model = get_model(cfg, pretrained=str(dst)).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        logits = model(x, mode='tensor')
        expected = ref.resnet_forward(
            sd, x, 50, groups=kwargs.get('groups', 1))
    assert (logits - expected['logits']).abs().max() <= 1e-5
    assert expected['logits'].abs().max() > 0.1  # not a vacuous comparison


def test_detection_backbone_matches_the_functional_stage_outputs(tmp_path):
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    sd = ref.random_resnet_state_dict(50, num_classes=1000, eca=(5, 5, 5, 7))
    src, dst = tmp_path / 'ref.pth.tar', tmp_path / 'rla_mm.pth'
    write_reference_checkpoint(src, sd, 'rla_resnet50_eca')
    assert convert_main([str(src), str(dst)]) == 0
    backbone = MODELS.build(
        dict(
            type='RLAResNet',
            depth=50,
            eca=True,
            frozen_stages=1,
            norm_eval=True,
            init_cfg=dict(
                type='Pretrained', checkpoint=str(dst), prefix='backbone.')))
    backbone.init_weights()
    backbone.eval()
    x = torch.randn(1, 3, 96, 64)
    with torch.no_grad():
        feats = backbone(x)
        expected = ref.resnet_forward(sd, x, 50)['feats']
    assert [f.shape[1] for f in feats] == [256, 512, 1024, 2048]
    for f, e in zip(feats, expected):
        assert (f - e).abs().max() <= 1e-5


def test_branch_source_matches_eq_11(tmp_path):
    # rla_source='branch' is Eq. 11 read literally; it differs from 'output'.
    sd = ref.random_resnet_state_dict(50, num_classes=10)
    conv = convert_state_dict(sd, 'rla_resnet50')
    from rla_mm.models import RLAResNet
    model = RLAResNet(50, rla_source='branch').eval()
    model.load_state_dict({
        k[9:]: v
        for k, v in conv.items() if k.startswith('backbone.')
        and 'bn_hidden' not in k and 'layer4.norms.2' not in k
    })
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feats = model(x)
        branch = ref.resnet_forward(sd, x, 50, source='branch')['feats']
        output = ref.resnet_forward(sd, x, 50, source='output')['feats']
    assert (feats[3] - branch[3]).abs().max() <= 1e-5
    assert (feats[3] - output[3]).abs().max() > 1e-3


@pytest.mark.parametrize('arch,depth', [('rla_resnet101_eca', 101),
                                        ('rla_resnet152', 152)])
def test_deep_models_map_every_key(arch, depth):
    sd = ref.random_resnet_state_dict(
        depth, eca=(5, 5, 5, 7) if 'eca' in arch else None)
    converted = convert_state_dict(sd, arch)
    assert len(converted) == len(sd)


def test_missing_and_unmapped_keys_are_listed(tmp_path, capsys):
    sd = ref.random_resnet_state_dict(50)
    del sd['stages.2.3.bn2.running_var']
    sd['stages.2.3.extra.weight'] = torch.zeros(1)
    with pytest.raises(ConversionError) as err:
        convert_state_dict(sd, 'rla_resnet50')
    message = str(err.value)
    assert 'unmapped source keys (1): stages.2.3.extra.weight' in message
    assert 'backbone.layer3.3.bn2.running_var' in message
    # the command line says the same and writes nothing
    src, dst = tmp_path / 'ref.pth.tar', tmp_path / 'out.pth'
    write_reference_checkpoint(src, sd, 'rla_resnet50')
    assert convert_main([str(src), str(dst)]) == 1
    assert 'stages.2.3.extra.weight' in capsys.readouterr().err
    assert not dst.exists()


def test_wrong_arch_and_shape_mismatch(tmp_path, capsys):
    sd = ref.random_resnet_state_dict(50)
    with pytest.raises(ConversionError, match='shape mismatches'):
        convert_state_dict(sd, 'rla_resnext50_32x4d')
    with pytest.raises(
            ConversionError, match="unknown reference arch 'rla_resnet18'"):
        convert_state_dict(sd, 'rla_resnet18')
    # the plain ResNet-50 is known (the ablation baseline), in its own layout
    with pytest.raises(ConversionError, match="reference arch 'resnet50'"):
        convert_state_dict(sd, 'resnet50')
    src = tmp_path / 'bare.pth'
    torch.save(sd, src)  # a bare state dict has no arch
    assert convert_main([str(src), str(tmp_path / 'o.pth')]) == 1
    assert '--arch' in capsys.readouterr().err
    assert convert_main(
        [str(src), str(tmp_path / 'o.pth'), '--arch', 'rla_resnet50']) == 0


def test_converter_refuses_a_pickle_with_code(tmp_path):
    import pickle

    class Payload:

        def __reduce__(self):
            import os
            return os.system, ('echo pwned', )

    src = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={}, arch='rla_resnet50', x=Payload()), src)
    with pytest.raises(pickle.UnpicklingError, match='system'):
        convert_main([str(src), str(tmp_path / 'o.pth')])


# ------------------------------------------------------------- RLA-MobileNetV2
# Every factory of the authors' models/mobilenetv2_dsrla.py: (arch, k, ECA).
DSRLA_ARCHS = [(f'dsrla_mobilenetv2{k_name}{suffix}', k, bool(suffix))
               for k_name, k in (('', 32), ('_k6', 6), ('_k12', 12),
                                 ('_k24', 24), ('_k32', 32))
               for suffix in ('', '_eca')]


@pytest.mark.parametrize('arch,k,eca', DSRLA_ARCHS)
def test_every_dsrla_mobilenet_arch_converts_to_our_config(
        tmp_path, capsys, arch, k, eca):
    sd = ref.random_mobilenet_state_dict(k=k, eca=eca, num_classes=10, seed=k)
    # one shared conv saved five times, as torch.save writes the authors' model
    assert len(
        {sd[f'recurrent_dsconvs.{r}.weight'].data_ptr()
         for r in range(5)}) == 1
    src, dst = tmp_path / 'ref.pth.tar', tmp_path / 'rla_mm.pth'
    write_reference_checkpoint(src, sd, arch)
    assert convert_main([str(src), str(dst)]) == 0
    out = capsys.readouterr().out
    # 416 (+17 ECA) entries; the five recurrent_dsconvs fill seven stages
    assert f'converted {arch}: {418 + 17 * eca} tensors' in out
    if arch.startswith('dsrla_mobilenetv2_k32'):  # the published weights
        config = ('rla_eca_mobilenet_v2_2xb48_in1k.py'
                  if eca else 'rla_mobilenet_v2_2xb48_in1k.py')
        assert f'classifier config: configs/{config}' in out
    from mmpretrain import get_model
    cfg = Config.fromfile(
        osp.join(
            CONFIGS, 'rla_eca_mobilenet_v2_2xb48_in1k.py'
            if eca else 'rla_mobilenet_v2_2xb48_in1k.py'))
    cfg.model.head.num_classes = 10
    cfg.model.backbone.rla_channel = k
    model = get_model(cfg, pretrained=str(dst)).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        logits = model(x, mode='tensor')
        expected = ref.mobilenet_forward(sd, x, k=k)['logits']
    assert (logits - expected).abs().max() <= 1e-5
    assert expected.abs().max() > 0.1  # not a vacuous comparison


def test_published_mobilenet_counts_and_layout():
    # dsrla_mobilenetv2_k32: 416 entries, five of them one recurrent conv
    sd = ref.random_mobilenet_state_dict(num_classes=1000)
    assert len(sd) == 416
    converted = convert_state_dict(sd, 'dsrla_mobilenetv2_k32')
    shared = [v for k, v in converted.items() if 'recurrent_conv' in k]
    assert len(shared) == 7 and all(v is shared[0] for v in shared)
    params = {
        id(v): v.numel()
        for k, v in converted.items()
        if not k.endswith(('running_mean', 'running_var',
                           'num_batches_tracked'))
    }
    assert sum(params.values()) == 3624168
    sd = ref.random_mobilenet_state_dict(num_classes=1000, eca=True)
    converted = convert_state_dict(sd, 'dsrla_mobilenetv2_k32_eca')
    params = {
        id(v): v.numel()
        for k, v in converted.items()
        if not k.endswith(('running_mean', 'running_var',
                           'num_batches_tracked'))
    }
    assert sum(params.values()) == 3624199


def test_unshared_recurrent_dsconvs_are_refused():
    # RLAMobileNetV2 holds ONE recurrent conv: different values cannot load
    sd = ref.random_mobilenet_state_dict()
    sd['recurrent_dsconvs.3.weight'] = sd['recurrent_dsconvs.3.weight'] + 1
    with pytest.raises(ConversionError, match='one shared tensor'):
        convert_state_dict(sd, 'dsrla_mobilenetv2')


@pytest.mark.parametrize('arch',
                         ['rla_mobilenetv2', 'rla_mobilenetv2_k32_eca'])
def test_dense_rla_mobilenet_names_are_refused_by_name(tmp_path, capsys, arch):
    # models/mobilenetv2_rla.py: a full 3x3 recurrent conv, no published
    # weights
    sd = ref.random_mobilenet_state_dict(eca=arch.endswith('_eca'))
    with pytest.raises(ConversionError) as err:
        convert_state_dict(sd, arch)
    assert 'no published weights' in str(err.value)
    assert f'--arch ds{arch}' in str(err.value)
    src = tmp_path / 'ref.pth.tar'
    write_reference_checkpoint(src, sd, 'dsrla_mobilenetv2')
    assert convert_main([str(src),
                         str(tmp_path / 'o.pth'), '--arch', arch]) == 1
    assert f'use --arch ds{arch}' in capsys.readouterr().err
    # the layout the issue tried: recurrent_convs is not the dsrla layout
    sd = {
        k.replace('recurrent_dsconvs', 'recurrent_convs'): v
        for k, v in sd.items()
    }
    with pytest.raises(ConversionError, match=r'unmapped source keys \(5\)'):
        convert_state_dict(sd, 'ds' + arch)


# ------------------------------------------- the authors' layouts, as recorded
# tests/fixtures/reference_layouts.json: written by running the authors'
# factories (.dev_scripts/fixtures/record_reference_layouts.py); their code
# does not ship here.
with open(osp.join(FIXTURES, 'reference_layouts.json')) as _f:
    REFERENCE_LAYOUTS = json.load(_f)


def layout(state_dict):
    lines = key_layouts.lines_of(state_dict)
    return dict(n=len(lines), sha=key_layouts.sha(lines))


def layout_difference(state_dict, name):
    """Which keys differ from the recorded layout of ``name``, for the
    message."""
    return f'{name}: ' + key_layouts.difference(
        key_layouts.lines_of(state_dict),
        key_layouts.expand(REFERENCE_LAYOUTS[name]['keys']))


def test_recorded_keys_are_the_recorded_layout():
    # the keys kept to name a difference are those whose hash was recorded
    for name, recorded in REFERENCE_LAYOUTS.items():
        if name == 'rla_mobilenetv2_k32':  # the dense model: counts only
            assert 'keys' not in recorded
            continue
        lines = key_layouts.expand(recorded['keys'])
        assert (len(lines), key_layouts.sha(lines)) == (recorded['n'],
                                                        recorded['sha']), name


def reference_format(name):
    """rla_functional's weights for a recorded factory (1000 classes)."""
    eca = name.endswith('_eca')
    if name.startswith('dsrla_mobilenetv2'):
        return ref.random_mobilenet_state_dict(eca=eca, num_classes=1000)
    depth = int(re.search(r'r(?:esnet)?(\d+)', name).group(1))
    return ref.random_resnet_state_dict(
        depth,
        eca=(5, 5, 5, 7) if eca else None,
        num_classes=1000,
        head=not name.startswith('mmdet_'))


@pytest.mark.parametrize(
    'name',
    [n for n in sorted(REFERENCE_LAYOUTS) if n != 'rla_mobilenetv2_k32'])
def test_reference_format_weights_have_the_authors_layout(name):
    sd = reference_format(name)
    recorded = REFERENCE_LAYOUTS[name]
    assert layout(sd) == dict(n=recorded['n'], sha=recorded['sha']), \
        layout_difference(sd, name)
    params = {
        id(v): v.numel()
        for k, v in sd.items()
        if not k.endswith(('running_mean', 'running_var',
                           'num_batches_tracked'))
    }
    assert sum(params.values()) == recorded['params']
    if not name.startswith('mmdet_'):  # detectors: test_convert_mmdet2.py
        converted = convert_state_dict(sd, name)
        assert {id(v)
                for v in converted.values()} == {id(v)
                                                 for v in sd.values()}


def test_the_dense_rla_mobilenet_is_another_model():
    # models/mobilenetv2_rla.py: same key names as one RLAMobileNetV2 layout
    # would need, but a full 3x3 recurrent conv: 8,928 parameters more
    dense = REFERENCE_LAYOUTS['rla_mobilenetv2_k32']
    published = REFERENCE_LAYOUTS['dsrla_mobilenetv2_k32']
    assert dense['params'] - published['params'] == 32 * 32 * 9 - 32 * 9
    with pytest.raises(
            ConversionError, match='use --arch dsrla_mobilenetv2_k32'):
        convert_state_dict(ref.random_mobilenet_state_dict(),
                           'rla_mobilenetv2_k32')
