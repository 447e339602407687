"""rla_mm's backbones build from MMDetection and MMPretrain configs."""
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope


@pytest.mark.parametrize('scope', ['mmdet', 'mmpretrain'])
@pytest.mark.parametrize('type_name', ['RLAResNet', 'RLAMobileNetV2',
                                       'rla_mm.RLAResNet'])
def test_backbones_build_under_both_scopes(scope, type_name):
    import importlib
    registry = importlib.import_module(f'{scope}.registry').MODELS
    kwargs = dict(depth=18) if 'ResNet' in type_name else {}
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(dict(type=type_name, rla_channel=8, **kwargs))
    assert type(model).__name__ == type_name.split('.')[-1]


def test_faster_rcnn_fpn_builds_on_the_rla_backbone():
    from mmdet.registry import MODELS
    from conftest import REPO_ROOT
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/faster_rcnn_rla_r50_fpn_1x_coco.py')
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
        dict(type='ImageClassifier',
             backbone=dict(type='RLAResNet', depth=18, rla_channel=8,
                           out_indices=(3, ), cat_hidden=True),
             neck=dict(type='GlobalAveragePooling'),
             head=dict(type='LinearClsHead', num_classes=5,
                       in_channels=512 + 8)))
    assert model(torch.randn(2, 3, 32, 32), mode='tensor').shape == (2, 5)


@pytest.mark.parametrize('scope', ['mmdet', 'mmpretrain'])
def test_custom_imports_in_a_config_file_register_the_backbones(tmp_path, scope):
    # A fresh interpreter: only the config's custom_imports brings rla_mm in.
    (tmp_path / 'cfg.py').write_text(textwrap.dedent(f"""
        custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)
        default_scope = '{scope}'
        backbone = dict(type='RLAResNet', depth=50, rla_channel=16)
    """))
    code = textwrap.dedent(f"""
        import sys
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from {scope}.registry import MODELS
        assert 'rla_mm' not in sys.modules
        cfg = Config.fromfile(sys.argv[1])
        init_default_scope(cfg.default_scope)
        model = MODELS.build(cfg.backbone)
        print(type(model).__module__, model.layer1.blocks[0].conv1.in_channels)
    """)
    proc = subprocess.run([sys.executable, '-c', code, str(tmp_path / 'cfg.py')],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['rla_mm.models.backbones.rla_resnet', '80']


def test_the_package_offers_every_registered_backbone():
    import rla_mm
    from rla_mm.models.backbones.base import RLABackbone
    from rla_mm.registry import MODELS
    backbones = {name for name, cls in MODELS.module_dict.items()
                 if issubclass(cls, RLABackbone)}
    assert backbones and backbones <= set(rla_mm.__all__)
    for name in rla_mm.__all__:
        assert hasattr(rla_mm, name), name
