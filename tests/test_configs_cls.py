"""The ImageNet classifier configs: recipes, exact parameter counts, a train step."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from conftest import REPO_ROOT

# SPEC §3: exact counts of the reference implementation (1000 classes, k = 32).
# RLA-ECA-ResNet-152 is not listed there: RLA-ResNet-152 plus its ECA kernels
# (3 x 5 + 8 x 5 + 36 x 5 + 3 x 7 = 256 weights).
EXPECTED_PARAMS = {
    'rla_resnet50_4xb64_in1k.py': 25_870_696,
    'rla_eca_resnet50_4xb64_in1k.py': 25_870_782,
    'rla_resnet101_4xb64_in1k.py': 45_003_176,
    'rla_eca_resnet101_4xb64_in1k.py': 45_003_347,
    'rla_resnet152_4xb64_in1k.py': 60_770_792,
    'rla_eca_resnet152_4xb64_in1k.py': 60_770_792 + 256,
    'rla_mobilenet_v2_2xb48_in1k.py': 3_624_168,
    'rla_eca_mobilenet_v2_2xb48_in1k.py': 3_624_199,
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
    return MODELS.build(cfg.model)


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


@pytest.mark.parametrize('name', [n for n in EXPECTED_PARAMS if 'mobilenet' in n])
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
