"""configs/dropin/: MMDetection's own configs with only the backbone type
swapped (and the RLA ImageNet weights as its init), built as MMDetection builds
them; MMSegmentation's with only the type swapped."""
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from rla_testkit.checkout import REPO_ROOT

DROPIN = sorted(glob.glob(osp.join(REPO_ROOT, 'configs', 'dropin', '*.py')))
SEG_DROPIN = [p for p in DROPIN if "'mmseg::" in open(p).read()]
DROPIN = [p for p in DROPIN if p not in SEG_DROPIN]
RLA_INIT = dict(
    type='Pretrained',
    checkpoint='checkpoints/rla_resnet50_in1k.pth',
    prefix='backbone.')


def library_config(path: str) -> Config:
    """The library config the drop-in config inherits (its first base)."""
    with open(path) as f:
        text = f.read()
    # the base's name, written as one string or as adjacent strings
    library, name = re.search(r"'(\w+)::((?:[^']|'\s*')+)'", text).groups()
    name = re.sub(r"'\s*'", '', name)
    package = __import__(library)
    return Config.fromfile(
        osp.join(osp.dirname(package.__file__), '.mim', 'configs', name))


def unscoped(value):
    """``value`` without the ``_scope_`` keys MMEngine adds to what a config
    inherits through ``mmdet::``."""
    if isinstance(value, dict):
        return {k: unscoped(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return [unscoped(v) for v in value]
    return value


def test_every_dropin_config_is_here():
    assert [osp.basename(p) for p in DROPIN] == [
        'atss_rla-r50_fpn_1x_coco.py',
        'cascade-mask-rcnn_rla-r50_fpn_1x_coco.py',
        'dino-4scale_rla-r50_8xb2-12e_coco.py'
    ]
    assert [osp.basename(p) for p in SEG_DROPIN] == [
        'deeplabv3plus_rla-r50-d8_4xb2-40k_cityscapes-512x1024.py',
        'upernet_rla-r50_4xb2-40k_cityscapes-512x1024.py'
    ]


@pytest.mark.parametrize('path', SEG_DROPIN, ids=osp.basename)
def test_seg_dropin_config_changes_only_the_backbone_type(path):
    ours, theirs = Config.fromfile(path), library_config(path)
    assert ours.custom_imports.imports == ['rla_mm']
    assert ours.default_scope == 'mmseg'
    assert ours.model.backbone.type == 'RLAResNetV1c'
    assert theirs.model.backbone.type == 'ResNetV1c'
    mine = unscoped(ours.to_dict())
    mine.pop('custom_imports')
    mine['model']['backbone']['type'] = 'ResNetV1c'
    # the rest, recipe and data included, is MMSegmentation's; the plain
    # checkpoint the model names initialises the main path
    assert mine == unscoped(theirs.to_dict())
    assert ours.model.pretrained == 'open-mmlab://resnet50_v1c'


@pytest.mark.parametrize('path', DROPIN, ids=osp.basename)
def test_dropin_config_changes_only_the_backbone_type_and_init(path):
    ours, theirs = Config.fromfile(path), library_config(path)
    assert ours.custom_imports.imports == ['rla_mm']
    backbone = unscoped(ours.model.backbone.to_dict())
    plain = unscoped(theirs.model.backbone.to_dict())
    assert backbone.pop('type') == 'RLAResNet' and plain.pop(
        'type') == 'ResNet'
    assert backbone.pop('init_cfg') == RLA_INIT
    plain.pop('init_cfg', None)
    assert backbone == plain
    # the rest of the model and the recipe are MMDetection's
    for key in ('neck', 'train_cfg', 'test_cfg'):
        assert unscoped(ours.model.get(key)) == \
            unscoped(theirs.model.get(key)), key
    for key in ('optim_wrapper', 'train_cfg', 'param_scheduler',
                'train_dataloader'):
        assert unscoped(ours[key]) == unscoped(theirs[key]), key


@pytest.mark.parametrize('path', DROPIN, ids=osp.basename)
def test_dropin_config_builds_the_rla_backbone_with_mmdetections_outputs(path):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    import rla_mm  # noqa: F401  (what custom_imports imports)
    register_all_modules(init_default_scope=False)
    ours, theirs = Config.fromfile(path), library_config(path)
    with DefaultScope.overwrite_default_scope('mmdet'):
        rla = MODELS.build(ours.model.backbone)
        plain = MODELS.build(dict(theirs.model.backbone, init_cfg=None))
    assert type(rla).__name__ == 'RLAResNet'
    assert rla.norm_eval is plain.norm_eval is True
    assert rla.frozen_stages == plain.frozen_stages
    rla.eval(), plain.eval()
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        assert [tuple(o.shape) for o in rla(x)] == \
            [tuple(o.shape) for o in plain(x)]


@pytest.mark.parametrize('path', SEG_DROPIN, ids=osp.basename)
def test_seg_dropin_config_builds_the_twin_with_mmsegmentations_outputs(path):
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    import rla_mm  # noqa: F401  (what custom_imports imports)
    register_all_modules(init_default_scope=False)
    ours, theirs = Config.fromfile(path), library_config(path)
    with DefaultScope.overwrite_default_scope('mmseg'):
        rla = MODELS.build(ours.model.backbone)
        plain = MODELS.build(theirs.model.backbone)
    assert type(rla).__name__ == 'RLAResNetV1c'
    assert rla.contract_dilation is plain.contract_dilation is True
    assert rla.norm_eval is plain.norm_eval is False
    rla.eval()
    plain.eval()
    x = torch.rand(1, 3, 33, 65)
    with torch.no_grad():
        assert [tuple(o.shape) for o in rla(x)] == \
            [tuple(o.shape) for o in plain(x)]
