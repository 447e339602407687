"""A plain MMDetection detector or ResNet checkpoint initialises an RLA twin:
through ``load_from`` (MMEngine's checkpoint loading) and through
tools/model_converters/resnet_to_rla_mm.py."""
import sys

import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.runner.checkpoint import load_checkpoint
from rla_testkit import process
from rla_testkit.checkout import REPO_ROOT
from rla_testkit.models import randomize_norms


@pytest.fixture
def small_faster_rcnn_cfg():
    import os.path as osp

    import mmdet
    from mmengine.config import Config

    # mmdet.testing.get_detector_cfg looks for a source checkout's configs;
    # an installed MMDetection keeps them under .mim
    cfg = Config.fromfile(
        osp.join(
            osp.dirname(mmdet.__file__), '.mim', 'configs', 'faster_rcnn',
            'faster-rcnn_r50_fpn_1x_coco.py')).model
    cfg.backbone.depth = 18
    cfg.backbone.init_cfg = None
    cfg.neck.in_channels = [64, 128, 256, 512]
    return cfg


def test_load_from_a_plain_detector_gives_its_predictions(
        tmp_path, small_faster_rcnn_cfg):
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs

    import rla_mm  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmdet'):
        plain = randomize_norms(MODELS.build(small_faster_rcnn_cfg))
        cfg = small_faster_rcnn_cfg.copy()
        cfg.backbone = dict(cfg.backbone, type='RLAResNet')
        twin = MODELS.build(cfg).eval()
    assert twin.backbone.norm_eval  # MMDetection's default, as the plain one
    path = str(tmp_path / 'plain_detector.pth')
    torch.save({'state_dict': plain.state_dict(), 'meta': {}}, path)
    load_checkpoint(twin, path, map_location='cpu')  # what load_from runs
    packed = demo_mm_inputs(2, [[3, 96, 112], [3, 80, 100]], num_classes=80)
    with torch.no_grad():
        data = plain.data_preprocessor(packed, False)
        feats_plain = plain.extract_feat(data['inputs'])
        feats_twin = twin.extract_feat(data['inputs'])
        for a, b in zip(feats_plain, feats_twin):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        out_plain = plain.predict(data['inputs'], data['data_samples'])
        out_twin = twin.predict(data['inputs'], data['data_samples'])
    for a, b in zip(out_plain, out_twin):
        torch.testing.assert_close(
            a.pred_instances.bboxes,
            b.pred_instances.bboxes,
            rtol=1e-4,
            atol=1e-4)
        torch.testing.assert_close(
            a.pred_instances.scores,
            b.pred_instances.scores,
            rtol=1e-4,
            atol=1e-5)


@pytest.mark.subprocess
def test_converter_writes_an_rla_initialisation(tmp_path):
    import mmdet.models.backbones as det

    import rla_mm.models as rla
    plain = randomize_norms(det.ResNet(depth=18))
    src = str(tmp_path / 'resnet18_classifier.pth')
    torch.save(
        {
            'state_dict': {
                f'backbone.{k}': v
                for k, v in plain.state_dict().items()
            }
        }, src)
    dst = str(tmp_path / 'out' / 'rla_resnet18_init.pth')
    proc = process.run([
        sys.executable, 'tools/model_converters/resnet_to_rla_mm.py', src, dst,
        '--depth', '18', '--rla-channel', '8'
    ],
                       cwd=REPO_ROOT,
                       capture_output=True,
                       text=True,
                       timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'the RLA parts start fresh' in proc.stdout
    state = torch.load(dst, map_location='cpu')['state_dict']
    assert all(
        k.startswith('backbone.layer') or k.startswith('backbone.conv1')
        or k.startswith('backbone.bn1') for k in state)
    assert not any('norms' in k or 'conv_out' in k for k in state)
    assert state['backbone.layer2.1.conv1.weight'].shape == \
        (128, 128 + 8, 3, 3)
    model = rla.RLAResNet(
        depth=18,
        rla_channel=8,
        init_cfg=dict(type='Pretrained', checkpoint=dst,
                      prefix='backbone.')).eval()
    model.init_weights()
    assert model.fresh_norms
    x = torch.rand(1, 3, 64, 72)
    with torch.no_grad():
        for a, b in zip(model(x), plain(x)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # an existing DST is kept unless --force says otherwise
    convert = [
        sys.executable, 'tools/model_converters/resnet_to_rla_mm.py', src, dst,
        '--depth', '18', '--rla-channel', '8'
    ]
    with open(dst, 'rb') as f:
        written = f.read()
    proc = process.run(
        convert + ['--rla-channel', '4'],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 1
    assert f'error: {dst} exists; pass --force' in proc.stderr
    with open(dst, 'rb') as f:
        assert f.read() == written
    proc = process.run(
        convert + ['--rla-channel', '4', '--force'],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr
    state = torch.load(dst, map_location='cpu')['state_dict']
    assert state['backbone.layer2.1.conv1.weight'].shape == (128, 128 + 4, 3,
                                                             3)
    # another depth is refused by name
    proc = process.run([
        sys.executable, 'tools/model_converters/resnet_to_rla_mm.py', src,
        str(tmp_path / 'out' / 'rla_resnet50_init.pth'), '--depth', '50'
    ],
                       cwd=REPO_ROOT,
                       capture_output=True,
                       text=True,
                       timeout=300)
    assert proc.returncode == 1
    assert 'does not fit the RLA backbone' in proc.stderr
