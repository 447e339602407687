"""RLA twins as drop-ins for MMPose 1.x's ResNets.

Held against MMPose's own classes: the arguments, the defaults a swapped
config relies on, and its own top-down config built with the type swapped.
MMPose is installed in the cu121 stack alone (``make test-compat``'s
environment; requirements/pose.txt): elsewhere these tests are skipped,
saying so.
"""
import importlib.metadata
import inspect
import os.path as osp

import pytest
from rla_testkit.checkout import REPO_ROOT, stack_installs

if stack_installs('requirements/pose.txt'):
    import mmpose.models.backbones as pose  # its stack installs it
else:
    pose = pytest.importorskip(
        'mmpose.models.backbones',
        reason='MMPose is not installed: the cu121 stack alone installs it '
        '(requirements/pose.txt; make test-compat), as its xtcocotools does '
        'not load on numpy 2')

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import MODELS, DefaultScope  # noqa: E402
from packaging.requirements import Requirement  # noqa: E402

import rla_mm.models as rla  # noqa: E402
from rla_mm.models.backbones.library_defaults import (  # noqa: E402
    LIBRARY_DEFAULTS, building_library)

TWINS = [(pose.ResNet, rla.RLAResNet), (pose.ResNetV1d, rla.RLAResNetV1d),
         (pose.ResNeXt, rla.RLAResNeXt), (pose.SEResNet, rla.RLASEResNet),
         (pose.SEResNeXt, rla.RLASEResNeXt)]


def arguments(cls_) -> set:
    """Every named argument of ``cls_`` and of the classes it passes
    ``**kwargs`` on to."""
    names = set()
    for klass in cls_.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        params = inspect.signature(init).parameters
        names |= {
            n
            for n, p in params.items()
            if n != 'self' and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            break
    return names


@pytest.mark.parametrize(
    'theirs,ours', TWINS, ids=lambda c: getattr(c, '__name__', c))
def test_twin_takes_every_argument_of_mmposes_class(theirs, ours):
    assert arguments(theirs) - arguments(ours) == set()


def test_defaults_equal_mmposes_own():
    params = inspect.signature(pose.ResNet).parameters
    for name in ('out_indices', 'norm_eval', 'stem_channels'):
        assert LIBRARY_DEFAULTS['mmpose'][name] == params[name].default, name
    for klass in (pose.ResNeXt, pose.SEResNeXt):
        params = inspect.signature(klass).parameters
        assert LIBRARY_DEFAULTS['mmpose']['groups'] == \
            params['groups'].default
        assert LIBRARY_DEFAULTS['mmpose']['width_per_group'] == \
            params['width_per_group'].default
    # MMPose's ResNet family takes MMPretrain's defaults, not those of a
    # model built without a scope (out_indices=(0, 1, 2, 3))
    assert LIBRARY_DEFAULTS['mmpose'] == LIBRARY_DEFAULTS['mmpretrain']
    assert LIBRARY_DEFAULTS['mmpose']['out_indices'] != \
        LIBRARY_DEFAULTS[None]['out_indices']


def test_twins_built_by_mmpose_take_its_defaults():
    import mmpose.models  # noqa: F401  (the scope's registry)
    with DefaultScope.overwrite_default_scope('mmpose'):
        assert building_library() == 'mmpose'
        resnet = MODELS.build(
            dict(type='RLAResNet', depth=18, base_channels=8, rla_channel=4))
        resnext = MODELS.build(
            dict(type='RLAResNeXt', depth=50, base_channels=8, rla_channel=4))
        theirs = MODELS.build(dict(type='ResNeXt', depth=50, base_channels=8))
    assert resnet.out_indices == (3, )
    assert resnet.norm_eval is False and resnet.stem_channels == 64
    assert resnext.groups == theirs.groups == 32
    assert resnext.base_width == theirs.width_per_group == 4


def test_mmposes_topdown_resnet_config_builds_with_the_type_swapped():
    """MMPose's own SimpleBaseline config (td-hm ResNet-50, COCO 256x192),
    only ``type`` changed: the twin gives the one stride-32 map that its
    heatmap head reads, and the head its heatmaps at a quarter of the
    input."""
    import mmpose
    import mmpose.models  # noqa: F401
    path = osp.join(
        osp.dirname(mmpose.__file__), '.mim', 'configs', 'body_2d_keypoint',
        'topdown_heatmap', 'coco', 'td-hm_res50_8xb64-210e_coco-256x192.py')
    model_cfg = Config.fromfile(path).model
    assert model_cfg.backbone.type == 'ResNet'
    model_cfg.backbone.type = 'RLAResNet'
    model_cfg.backbone.pop('init_cfg')  # nothing downloads
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(model_cfg)
    assert isinstance(model.backbone, rla.RLAResNet)
    assert model.backbone.out_indices == (3, )
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.rand(1, 3, 64, 64))
        heatmaps = model.head.forward(feats)
    assert [tuple(f.shape) for f in feats] == [(1, 2048, 2, 2)]
    assert tuple(heatmaps.shape) == (1, 17, 16, 16)


def test_the_pose_pins_are_what_is_installed():
    with open(osp.join(REPO_ROOT, 'requirements', 'pose.txt')) as f:
        pins = [
            Requirement(line.split('#', 1)[0].strip()) for line in f
            if line.split('#', 1)[0].strip()
        ]
    assert {r.name
            for r in pins
            } == {'mmpose', 'xtcocotools', 'cython', 'json-tricks', 'munkres'}
    for req in pins:
        assert importlib.metadata.version(req.name) == \
            str(req.specifier).lstrip('='), req.name
    # what MMPose imports beside the stack: munkres (its codecs) and
    # xtcocotools (its datasets and metrics), loaded on this numpy
    import munkres  # noqa: F401
    import xtcocotools.coco  # noqa: F401
    import xtcocotools.mask  # noqa: F401
