"""configs/dropin/: MMDetection's own configs with only the backbone type
swapped (and the RLA ImageNet weights as its init), built as MMDetection builds
them."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from rla_testkit.checkout import REPO_ROOT

DROPIN = sorted(glob.glob(osp.join(REPO_ROOT, 'configs', 'dropin', '*.py')))
RLA_INIT = dict(
    type='Pretrained',
    checkpoint='checkpoints/rla_resnet50_in1k.pth',
    prefix='backbone.')


def library_config(path: str) -> Config:
    """The MMDetection config the drop-in config inherits (its first base)."""
    with open(path) as f:
        text = f.read()
    start = text.index("'mmdet::") + len("'mmdet::")
    name = text[start:text.index("'", start)]
    import mmdet
    return Config.fromfile(
        osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', name))


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
