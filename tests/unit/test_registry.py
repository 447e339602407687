"""rla_mm's backbones build from MMDetection and MMPretrain configs."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

import rla_mm  # noqa: F401  (registers the backbones)


@pytest.mark.parametrize('scope', ['mmdet', 'mmpretrain'])
@pytest.mark.parametrize('type_name',
                         ['RLAResNet', 'RLAMobileNetV2', 'rla_mm.RLAResNet'])
def test_backbones_build_under_both_scopes(scope, type_name):
    import importlib
    registry = importlib.import_module(f'{scope}.registry').MODELS
    kwargs = dict(depth=18) if 'ResNet' in type_name else {}
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(dict(type=type_name, rla_channel=8, **kwargs))
    assert type(model).__name__ == type_name.split('.')[-1]


def test_faster_rcnn_fpn_builds_on_the_rla_backbone():
    from mmdet.registry import MODELS
    from rla_testkit.checkout import REPO_ROOT
    cfg = Config.fromfile(
        f'{REPO_ROOT}/configs/faster_rcnn_rla_r50_fpn_1x_coco.py')
    assert cfg.model.backbone.type == 'RLAResNet'
    assert cfg.model.neck.in_channels == [256, 512, 1024, 2048]
    cfg.model.backbone.init_cfg = None
    init_default_scope('mmdet')
    detector = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        feats = detector.extract_feat(torch.randn(1, 3, 128, 96))
    assert len(feats) == 5
    assert all(f.shape[1] == 256 for f in feats)
    assert feats[0].shape[-2:] == (32, 24)


def test_mmpretrain_classifier_builds_from_a_config_dict():
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='RLAResNet',
                depth=18,
                rla_channel=8,
                out_indices=(3, ),
                cat_hidden=True),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead', num_classes=5, in_channels=512 + 8)))
    assert model(torch.randn(2, 3, 32, 32), mode='tensor').shape == (2, 5)


def test_the_package_offers_every_registered_backbone():
    from rla_mm.models.backbones.base import RLABackbone
    from rla_mm.registry import MODELS
    backbones = {
        name
        for name, cls in MODELS.module_dict.items()
        if issubclass(cls, RLABackbone)
    }
    assert backbones and backbones <= set(rla_mm.__all__)
    for name in rla_mm.__all__:
        assert hasattr(rla_mm, name), name
