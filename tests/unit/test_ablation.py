"""The ablation configs (configs/ablation/): exact counts, a train step at odd
sizes, the README tables, and the converter on every reference ablation
layout."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from rla_testkit import rla_ablation_functional as abl
from rla_testkit.checkout import REPO_ROOT, load_script, load_tool
from rla_testkit.reference_checkpoints import write_reference_checkpoint

from rla_mm.configs import ABLATION_METAFILE, load_metafile, paper_figure
from rla_mm.converters import ConversionError
from rla_mm.converters.rlanet import ABLATION_ARCHS, convert_state_dict

ABLATION = osp.join(REPO_ROOT, 'configs', 'ablation')
METAFILE = load_metafile(ABLATION_METAFILE)
CONFIGS = sorted(
    osp.basename(p) for p in glob.glob(osp.join(ABLATION, '*.py')))
convert_main = load_tool('model_converters/rlanet_to_rla_mm.py').main


def load(name):
    return Config.fromfile(osp.join(ABLATION, name))


def build(model_cfg):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    return MODELS.build(model_cfg)


# ---- exact counts (the one module that builds the full-size variants) ----


def test_metafile_lists_every_ablation_config():
    assert sorted(METAFILE) == CONFIGS
    assert len(CONFIGS) == 29
    archs = {m['Metadata'].get('Reference Arch') for m in METAFILE.values()}
    # every ImageNet config names the authors' module whose count it equals
    assert archs - {None} <= set(ABLATION_ARCHS)


@pytest.mark.parametrize('name', CONFIGS)
def test_exact_parameter_count(name):
    # Built on the meta device: the count needs no memory or init.
    with torch.device('meta'):
        model = build(load(name).model)
    params = sum(p.numel() for p in model.parameters())
    meta = METAFILE[name]['Metadata']
    assert params == meta['Parameters']
    # Within 0.01M of the paper's figure, in its units
    # (configs/ablation/README.md)
    if name.endswith('_in1k.py'):
        if 'Paper Params' in meta:
            assert abs(params - paper_figure(meta['Paper Params'])) \
                <= 0.005 * 2**20
    else:
        assert abs(params / 1e6 - meta['Paper Params (decimal M)']) < 0.01


def test_counts_that_the_tables_compare():
    counts = {n: m['Metadata']['Parameters'] for n, m in METAFILE.items()}
    # v1-v6 differ in wiring only; v3 is the main published model
    main = load_metafile()['rla_resnet50_4xb64_in1k.py']['Metadata']
    assert {counts[f'rla_resnet50_v{i}_4xb64_in1k.py']
            for i in range(1, 7)} == {main['Parameters']} == {25870696}
    # post-activation drops bn_hidden's 2k parameters
    assert counts['rla_resnet50_postact_4xb64_in1k.py'] == 25870696 - 64
    # the reference's counts (measured by running their files)
    assert counts['rla_resnet50_unshared_4xb64_in1k.py'] == 26341736
    assert counts['rla_resnet50_noexchange_4xb64_in1k.py'] == 25749864
    assert counts['rla_resnet50_convlstm_4xb64_in1k.py'] == 26128680
    assert counts['rla_resnet50_convgru_4xb64_in1k.py'] == 26056104
    assert counts['resnet50_k32_4xb64_in1k.py'] == 26794280
    assert counts['resnet50_4xb64_in1k.py'] == 25557032
    assert counts['rla_resnet101_unshared_4xb64_in1k.py'] == 46187944
    cifar = load_metafile()['rla_resnet164_1xb128_cifar10.py']['Metadata']
    assert counts['rla_resnet164_k12_1xb128_cifar10.py'] \
        == counts['rla_resnet164_v1_1xb128_cifar10.py'] \
        == cifar['Parameters']


def test_readme_tables_are_the_metafile():
    # (test_doc_tables.py holds configs/ablation/README.md to the tables)
    tables = load_script('.dev_scripts/doc_tables.py')
    assert '| 26,341,736 | 25.12 | 25.12 | 22.93 / 6.61 |' in \
        tables.ablation_in1k_table()
    assert '| 1,766,642 | 1.77 | 1.77 | 5.36 |' in tables.ablation_cifar_table(
    )


# ---- every config trains a step at a small width and an odd size ----


def small(name):
    """The config's model at a tiny width (the variant unchanged); CIFAR's
    ResNet-164 becomes a ResNet-20 (its pre-activation bottlenecks are run by
    the exact-count test and tests/unit/test_models/test_rla_variants.py)."""
    cfg = load(name).model
    if cfg.backbone.type == 'RLAResNet':
        cfg.backbone.update(stem_channels=8, base_channels=8)
        if cfg.backbone.rla_channel:
            cfg.backbone.rla_channel = 4
    else:
        cfg.backbone.update(depth=20, base_channels=4)
    cfg.head.num_classes = 3
    backbone = build(cfg.backbone)
    cfg.head.in_channels = backbone.feat_dim
    return cfg


@pytest.mark.parametrize('name', CONFIGS)
def test_config_trains_a_step_at_an_odd_size(name):
    cfg = small(name)
    model = build(cfg).train()
    size = 37 if name.endswith('_in1k.py') else 33
    x = torch.randn(2, 3, size, size)
    logits = model(x, mode='tensor')
    assert logits.shape == (2, 3)
    logits.logsumexp(1).mean().backward()
    # every parameter is used (with rla_add='after' the first RLA norm reads
    # h_0 = 0, so its weight's gradient is 0, as in the authors' code)
    assert all(p.grad is not None and p.grad.isfinite().all()
               for p in model.parameters())
    with torch.no_grad():
        assert model.eval()(x[:1, :, :31, :29], mode='tensor').shape == (1, 3)


# ---- converter: every reference ablation layout ----


def test_every_reference_arch_has_a_functional_model_and_config():
    assert set(abl.BEHAVIOUR) == set(ABLATION_ARCHS)
    configs = {m['Metadata'].get('Reference Arch') for m in METAFILE.values()}
    # the _eca / -101 forms convert to a config with eca=True / depth=101
    base = {
        a.replace('_eca', '').replace('rlagru_resnet101', 'rlagru_resnet50')
        for a in ABLATION_ARCHS
    }
    assert base <= configs


CONVERTED = [
    'rlav1_resnet50', 'rlav2_resnet50', 'rlav5_resnet50', 'rlav6_resnet50',
    'rlaus_resnet50', 'rlarh_resnet50', 'rlalstm_resnet50', 'rlagru_resnet50',
    'rlav1p_resnet50', 'resnet50_k'
]


@pytest.mark.parametrize('arch', CONVERTED)
def test_converted_ablation_matches_the_functional_forward(
        tmp_path, capsys, arch):
    sd = abl.random_ablation_state_dict(arch)
    src, dst = tmp_path / 'ref.pth.tar', tmp_path / 'rla_mm.pth'
    write_reference_checkpoint(src, sd, arch)
    assert convert_main([str(src), str(dst)]) == 0
    out = capsys.readouterr().out
    config = next(n for n, m in METAFILE.items()
                  if m['Metadata'].get('Reference Arch') == arch)
    assert f'classifier config: configs/ablation/{config}' in out

    from mmpretrain import get_model
    cfg = load(config)
    cfg.model.head.num_classes = 10
    model = get_model(cfg, pretrained=str(dst)).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        logits = model(x, mode='tensor')
        expected = abl.ablation_forward(sd, x, arch)
        feats = model.backbone(x)
    assert (logits - expected['logits']).abs().max() <= 1e-5
    assert expected['logits'].abs().max() > 0.1  # not a vacuous comparison
    main = 2048 + abl.BEHAVIOUR[arch].get('plain', 0)  # without h
    assert (feats[-1][:, :main] - expected['feats'][-1]).abs().max() <= 1e-5


@pytest.mark.parametrize('arch', [
    'rlav1_resnet50_eca', 'rlagru_resnet50_eca', 'rlaus_resnet101',
    'rlagru_resnet101_eca', 'resnet50'
])
def test_other_reference_archs_map_every_key(arch):
    sd = abl.random_ablation_state_dict(arch, num_classes=1000)
    converted = convert_state_dict(sd, arch)
    assert len(converted) == len(sd)
    if arch == 'resnet50':
        assert converted['head.fc.weight'].shape == (1000, 2048)


def test_a_checkpoint_of_another_variant_is_refused():
    # v1's shared layout is not the unshared file's: the mismatch is listed
    sd = abl.random_ablation_state_dict('rlav1_resnet50')
    with pytest.raises(ConversionError, match='unmapped source keys') as err:
        convert_state_dict(sd, 'rlaus_resnet50')
    assert 'conv_outs.0.weight' in str(err.value)
    # the LSTM layout is not the GRU's
    sd = abl.random_ablation_state_dict('rlalstm_resnet50')
    with pytest.raises(ConversionError, match='recurrent_convs.0.conv.weight'):
        convert_state_dict(sd, 'rlagru_resnet50')
