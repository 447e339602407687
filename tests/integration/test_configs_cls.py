"""The ImageNet classifier configs: recipes, exact parameter counts, a train
step."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from rla_testkit.checkout import REPO_ROOT, load_script

from rla_mm.configs import CLS_METAFILE, load_metafile

DOC_TABLES = load_script('.dev_scripts/doc_tables.py')

# The exact counts live in configs/metafile.yml (one place): the models of the
# paper's Table 3 are those with a reference arch, the † models the tricks
# ones.
METAFILE = load_metafile()
EXPECTED_PARAMS = {
    name: m['Metadata']['Parameters']
    for name, m in METAFILE.items() if 'Reference Arch' in m['Metadata']
}


def load(name):
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', name))


def without_scope(d):
    """A config dict without the ``_scope_`` key that ``pkg::`` bases add."""
    return {k: v for k, v in d.items() if k != '_scope_'}


def build(cfg):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    model = cfg.model.copy()
    # As mmengine's Runner does: the top-level data preprocessor joins the
    # model.
    if cfg.get('data_preprocessor') is not None:
        model.setdefault('data_preprocessor', cfg.data_preprocessor)
    return MODELS.build(model)


@pytest.mark.parametrize('name', sorted(EXPECTED_PARAMS))
def test_exact_parameter_count_and_a_train_step(name):
    model = build(load(name))
    assert sum(p.numel() for p in model.parameters()) == EXPECTED_PARAMS[name]
    model.train()
    x = torch.randn(2, 3, 64, 64)
    logits = model(x, mode='tensor')
    assert logits.shape == (2, 1000)
    logits.logsumexp(1).mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        assert model(x[:1], mode='tensor').shape == (1, 1000)


@pytest.mark.parametrize('name', [n for n in EXPECTED_PARAMS if 'resnet' in n])
def test_resnet_recipe(name):
    cfg = load(name)
    assert without_scope(cfg.optim_wrapper.optimizer) == dict(
        type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4)
    assert cfg.param_scheduler.milestones == [30, 60, 90]
    assert cfg.param_scheduler.gamma == 0.1
    assert cfg.train_cfg.max_epochs == 120
    assert cfg.train_dataloader.batch_size == 64  # x 4 GPUs = 256
    assert cfg.auto_scale_lr.base_batch_size == 256
    assert cfg.model.head.in_channels == 2048 + 32
    train_types = [t['type'] for t in cfg.train_pipeline]
    assert 'RandomResizedCrop' in train_types and 'RandomFlip' in train_types
    test = {t['type']: t for t in cfg.test_pipeline}
    assert test['ResizeEdge']['scale'] == 256
    assert test['CenterCrop']['crop_size'] == 224


@pytest.mark.parametrize('name',
                         [n for n in EXPECTED_PARAMS if 'mobilenet' in n])
def test_mobilenet_recipe(name):
    cfg = load(name)
    assert without_scope(cfg.optim_wrapper.optimizer) == dict(
        type='SGD', lr=0.045, momentum=0.9, weight_decay=4e-5)
    assert cfg.param_scheduler.type == 'StepLR'
    assert cfg.param_scheduler.gamma == 0.98
    assert cfg.param_scheduler.step_size == 1
    assert cfg.train_cfg.max_epochs == 400
    assert cfg.train_dataloader.batch_size == 48  # x 2 GPUs = 96
    assert cfg.auto_scale_lr.base_batch_size == 96


# ---- † models (paper B.2.2): ResNet-D with RLA and the training tricks ----

# The deep stem (3x3 convs 3->32->32->64 with their BNs: 28,768 parameters)
# replaces the 7x7 conv and its BN (9,536); the avg-pool shortcuts add nothing.
DEEP_STEM_EXTRA = (3 * 32 + 32 * 32 + 32 * 64) * 9 + 2 * (32 + 32 + 64) - (
    3 * 64 * 49 + 2 * 64)
TRICKS_PARAMS = {
    name: m['Metadata']['Parameters']
    for name, m in METAFILE.items() if 'tricks' in name
}


def test_counts_agree_with_each_other():
    # The reference implementation's counts (1000 classes, k = 32): ECA adds
    # one 1-D kernel per block (5 in stages 1-3, 7 in stage 4), and the deep
    # stem of the † models replaces the 7x7 conv and its BN.
    eca152 = (3 + 8 + 36) * 5 + 3 * 7
    assert EXPECTED_PARAMS['rla_eca_resnet152_4xb64_in1k.py'] == \
        EXPECTED_PARAMS['rla_resnet152_4xb64_in1k.py'] + eca152
    for plain in ('rla_resnet50', 'rla_eca_resnet50'):
        assert TRICKS_PARAMS[f'{plain}d_4xb64_tricks_in1k.py'] == \
            EXPECTED_PARAMS[f'{plain}_4xb64_in1k.py'] + DEEP_STEM_EXTRA
    # The paper's Params column is the exact count / 2^20, to two decimals.
    for name, model in METAFILE.items():
        paper = model['Metadata'].get('Paper Params')
        if paper is not None:
            assert f"{model['Metadata']['Parameters'] / 2**20:.2f}M" == paper


@pytest.mark.parametrize('name', sorted(TRICKS_PARAMS))
def test_tricks_model_trains_with_mixup_and_label_smoothing(name):
    from mmpretrain.structures import DataSample
    cfg = load(name)
    model = build(cfg)
    assert type(model.backbone).__name__ == 'RLAResNetV1d'
    assert sum(p.numel() for p in model.parameters()) == TRICKS_PARAMS[name]
    data = dict(
        inputs=[
            torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
            for _ in range(2)
        ],
        data_samples=[DataSample().set_gt_label(i) for i in (3, 7)])
    model.train()
    data = model.data_preprocessor(data, training=True)
    # Mixup made soft labels, mixing the two samples' classes.
    score = data['data_samples'][0].gt_score
    assert (score.shape == (1000, )
            and set(score.nonzero().flatten().tolist()) <= {3, 7})
    losses = model(**data, mode='loss')
    losses['loss'].backward()
    assert torch.isfinite(losses['loss'])
    assert model.backbone.stem[0].weight.grad is not None


@pytest.mark.parametrize('name', sorted(TRICKS_PARAMS))
def test_tricks_recipe(name):
    cfg = load(name)
    assert cfg.model.head.loss.type == 'LabelSmoothLoss'
    assert cfg.model.head.loss.label_smooth_val == 0.1
    assert cfg.model.train_cfg.augments == dict(type='Mixup', alpha=0.2)
    warmup, cosine = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and (warmup.begin, warmup.end) == (0, 5)
    assert cosine.type == 'CosineAnnealingLR'
    assert (cosine.begin, cosine.end, cosine.T_max) == (5, 200, 195)
    assert cfg.train_cfg.max_epochs == 200
    assert cfg.optim_wrapper.optimizer.lr == 0.1
    assert cfg.train_dataloader.batch_size * 4 == 256


# ---- CIFAR (paper Sec. 4.1, B.1) ----

CIFAR_CONFIGS = sorted(
    osp.basename(p)
    for p in glob.glob(osp.join(REPO_ROOT, 'configs', '*_cifar10*.py')))


def test_every_cifar_model_has_both_datasets_and_a_plain_twin():
    assert len(CIFAR_CONFIGS) == 12
    for model in ('rla_resnet110', 'rla_resnet164', 'rla_xception',
                  'preact_resnet110', 'preact_resnet164', 'xception'):
        for data in ('cifar10', 'cifar100'):
            assert f'{model}_1xb128_{data}.py' in CIFAR_CONFIGS


@pytest.mark.parametrize('name', CIFAR_CONFIGS)
def test_cifar_config_trains_and_predicts_at_32x32(name):
    from mmpretrain.structures import DataSample
    cfg = load(name)
    model = build(cfg)
    classes = 100 if 'cifar100' in name else 10
    plain = not name.startswith('rla_')
    names = [n for n, _ in model.named_parameters()]
    assert plain != any('recurrent_conv' in n for n in names)
    model.train()
    x = torch.randn(2, 3, 32, 32)
    logits = model(x, mode='tensor')
    assert logits.shape == (2, classes)
    logits.logsumexp(1).mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        pred = model(x[:1], [DataSample()], mode='predict')[0]
    assert pred.pred_score.shape == (classes, )


@pytest.mark.parametrize('name', CIFAR_CONFIGS)
def test_cifar_recipe_and_split(name):
    cfg = load(name)
    assert without_scope(cfg.optim_wrapper.optimizer) == dict(
        type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)
    assert cfg.param_scheduler.milestones == [150, 225]
    assert cfg.param_scheduler.gamma == 0.1
    assert cfg.train_cfg.max_epochs == 300
    assert cfg.train_dataloader.batch_size == 128
    dataset = 'CIFAR100' if 'cifar100' in name else 'CIFAR10'
    train = cfg.train_dataloader.dataset
    val = cfg.val_dataloader.dataset
    test = cfg.test_dataloader.dataset
    assert (train.type, train.part, train.num_holdout) == (dataset + 'Holdout',
                                                           'train', 5000)
    assert (val.type, val.part, val.num_holdout) == (dataset + 'Holdout',
                                                     'val', 5000)
    assert (test.type, test.split) == (dataset, 'test')
    assert [t['type'] for t in cfg.train_pipeline
            ] == ['RandomCrop', 'RandomFlip', 'PackInputs']
    assert cfg.train_pipeline[0]['padding'] == 4
    assert cfg.default_hooks.checkpoint.save_best == 'accuracy/top1'
    assert 'rla_mm.datasets' in cfg.custom_imports.imports


# ---- model zoo documentation ----


def test_metafile_lists_every_classification_config_with_its_parameters():
    import yaml
    with open(osp.join(REPO_ROOT, 'configs', CLS_METAFILE)) as f:
        meta = yaml.safe_load(f)
    models = {osp.basename(m['Config']): m for m in meta['Models']}
    configs = {
        osp.basename(p)
        for pattern in ('*_in1k.py', '*_cifar10*.py')
        for p in glob.glob(osp.join(REPO_ROOT, 'configs', pattern))
    }
    assert set(models) == configs
    for name, model in models.items():
        assert osp.isfile(osp.join(REPO_ROOT, model['Config']))
        assert model['In Collection'] == 'RLA-Net'
        if name not in EXPECTED_PARAMS and name not in TRICKS_PARAMS:
            # CIFAR (the others are built by the tests above)
            expected = sum(p.numel() for p in build(load(name)).parameters())
            assert model['Metadata']['Parameters'] == expected, name
        assert model['Metadata']['FLOPs'] > 0
        if name.startswith('rla_'):
            top1 = model['Results'][0]['Metrics']['Top 1 Accuracy']
            assert 70 < top1 < 96


def test_configs_readme_table_is_the_metafile():
    # configs/README.md shows the metafile's facts; it does not keep its own.
    # (test_doc_tables.py holds configs/README.md to the table)
    table = DOC_TABLES.in1k_table()
    assert '| 25,870,696 | 4.17G | 77.17 | 93.42 |' in table


def test_readme_parameter_table_is_the_metafile():
    """docs/faithfulness.md's "Parameter counts" rows repeat
    configs/metafile.yml exactly."""
    import re
    with open(osp.join(REPO_ROOT, 'docs', 'faithfulness.md')) as f:
        text = f.read()
    table = text[text.index('## Parameter counts'):]
    table = table[:table.index('\n\n', table.index('| model |'))]
    rows = re.findall(
        r'^\| (RLA-[\w-]+) \| ([\d,]+) \| ([\d.]+M) \| (\S+) \|$', table, re.M)
    assert len(rows) == 8, table
    for model, params, in_paper_unit, paper in rows:
        key = model.lower().replace('-', '')
        entries = [
            m for name, m in METAFILE.items()
            if re.match(rf'{key}\d+xb', name.replace('_', ''))
        ]
        assert len(entries) == 1, (model, [m['Name'] for m in entries])
        meta = entries[0]['Metadata']
        assert int(params.replace(',', '')) == meta['Parameters'], model
        assert in_paper_unit == f"{meta['Parameters'] / 2**20:.2f}M", model
        assert paper == meta.get('Paper Params', '—'), model


def test_configs_readme_cifar_table_is_the_metafile():
    # our exact CIFAR counts beside Table 2, rendered from the metafile
    table = DOC_TABLES.cifar_table()
    assert len(table.splitlines()) == 2 + 6


@pytest.mark.parametrize('data', ['cifar10', 'cifar100'])
@pytest.mark.parametrize('plain,rla', [('preact_resnet110', 'rla_resnet110'),
                                       ('preact_resnet164', 'rla_resnet164'),
                                       ('xception', 'rla_xception')])
def test_cifar_counts_beside_table_2(plain, rla, data):
    """Table 2 prints decimal millions; every RLA-Net total of the paper
    (Params + ΔParams) is ours, every plain one but ResNet-164's."""
    plain_meta = METAFILE[f'{plain}_1xb128_{data}.py']['Metadata']
    rla_meta = METAFILE[f'{rla}_1xb128_{data}.py']['Metadata']
    paper = float(plain_meta['Table 2 Params'].rstrip('M'))
    delta = float(rla_meta['Table 2 Delta Params'].rstrip('M'))
    assert round(rla_meta['Parameters'] / 1e6, 2) == round(paper + delta, 2)
    ours = round(plain_meta['Parameters'] / 1e6, 2)
    if plain == 'preact_resnet164':
        # Table 8's plain network (1.70M / 1.73M); the paper prints 1.72M
        # / 1.74M
        assert round(paper - ours, 2) == 0.02 - 0.01 * (data == 'cifar100')
    else:
        assert ours == paper


def test_published_checkpoints_quote_their_own_figures():
    """An entry naming the authors' checkpoint quotes that checkpoint's figures
    (its name ends with the top-1 error x 100) and keeps the paper's beside."""
    published = {
        name: m
        for name, m in METAFILE.items()
        if 'Reference Checkpoint' in m['Metadata']
    }
    assert len(published) == 6
    differ = set()
    for name, model in published.items():
        meta, metrics = model['Metadata'], model['Results'][0]['Metrics']
        error = int(meta['Reference Checkpoint'].rsplit('_', 1)[1]) / 100
        assert metrics['Top 1 Accuracy'] == pytest.approx(100 - error), name
        if (meta['Paper Top 1 Accuracy'],
                meta['Paper Top 5 Accuracy']) != (metrics['Top 1 Accuracy'],
                                                  metrics['Top 5 Accuracy']):
            differ.add(name)
    # the authors' README against the paper: 21.00 / 5.51 (paper 21.13 / 5.61)
    # and 27.62 (paper 27.68) top-1 / top-5 error
    assert differ == {
        'rla_eca_resnet101_4xb64_in1k.py', 'rla_mobilenet_v2_2xb48_in1k.py'
    }
    eca101 = published['rla_eca_resnet101_4xb64_in1k.py']
    assert eca101['Results'][0]['Metrics']['Top 5 Accuracy'] == 94.49
    assert (eca101['Metadata']['Paper Top 1 Accuracy'],
            eca101['Metadata']['Paper Top 5 Accuracy']) == (78.87, 94.39)
    mbv2 = published['rla_mobilenet_v2_2xb48_in1k.py']['Metadata']
    assert mbv2['Paper Top 1 Accuracy'] == 72.32
