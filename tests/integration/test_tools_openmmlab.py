"""MMDetection's and MMPretrain's own tools on rla_mm configs, unpatched.

Each tool runs from the installed MMDetection / MMPretrain (``mim run``,
``mim test``) on a real rla_mm config; the config's ``custom_imports`` brings
rla_mm in. Data: the tiny embedded digits sets; models: randomly initialised
weights saved as checkpoints (the tools' plumbing is under test, not accuracy).
"""
import os
import os.path as osp
import pickle
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from rla_testkit import process
from rla_testkit.checkout import REPO_ROOT, load_tool

DET = osp.join(REPO_ROOT, 'configs', 'demo',
               'faster_rcnn_rla_r18_fpn_digits.py')
CLS = osp.join(REPO_ROOT, 'configs', 'demo', 'rla_resnet164_digits.py')
# keep every box of a random model, so that the tools have predictions to read
KEEP_ALL = ['model.test_cfg.rcnn.score_thr=0.0']


def run(args, cwd, timeout=600):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    proc = process.run(
        args,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout)
    return proc, proc.stdout + proc.stderr


def mim(*args):
    return [sys.executable, '-m', 'mim', *args]


@pytest.fixture(scope='module')
def det(tmp_path_factory):
    """Digits COCO (8 train / 4 val at 96 px), its --cfg-options, and a
    checkpoint of the demo detector."""
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    root = tmp_path_factory.mktemp('det')
    digits = load_tool('data/make_digits_coco.py')
    data = str(root / 'digits')
    digits.make_dataset(data, num_train=8, num_val=4, size=96, seed=3)
    opts = digits.cfg_options(data, coco_layout=False)
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(DET).model)
    model.init_weights()
    ckpt = str(root / 'frcnn.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    return str(root), opts, ckpt


@pytest.mark.subprocess
def test_mmdet_print_config(det, tmp_path):
    config = osp.join(REPO_ROOT, 'configs',
                      'faster_rcnn_rla_r50_fpn_1x_coco.py')
    proc, out = run(mim('run', 'mmdet', 'print_config', config), tmp_path)
    assert proc.returncode == 0, out[-3000:]
    assert 'mmdet/.mim/tools/misc/print_config.py' in out
    assert "type='RLAResNet'" in out and "'rla_mm'," in out
    assert "type='FasterRCNN'" in out  # MMDetection's base, merged


@pytest.mark.subprocess
def test_mmdet_browse_dataset(det, tmp_path):
    _, opts, _ = det
    proc, out = run(
        mim('run', 'mmdet', 'browse_dataset', DET, '--output-dir', 'browse',
            '--not-show', '--cfg-options', *opts), tmp_path)
    assert proc.returncode == 0, out[-3000:]
    pictures = sorted(os.listdir(tmp_path / 'browse'))
    assert len(pictures) == 8  # the training images, boxes drawn
    image = cv2.imread(str(tmp_path / 'browse' / pictures[0]))
    assert image is not None and image.shape[2] == 3


@pytest.mark.subprocess
def test_test_out_feeds_mmdet_analyze_results_and_confusion_matrix(
        det, tmp_path):
    _, opts, ckpt = det
    results = str(tmp_path / 'results.pkl')
    proc, out = run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'test.py'), DET, ckpt, '--out', results,
        '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', *opts, *KEEP_ALL
    ], tmp_path)
    assert proc.returncode == 0, out[-3000:]
    with open(results, 'rb') as f:
        dumped = pickle.load(f)
    # MMDetection's DumpDetResults format: predictions without ground truth
    assert len(dumped) == 4 and 'gt_instances' not in dumped[0]
    assert dumped[0]['pred_instances']['bboxes'].shape[1] == 4

    proc, out = run(
        mim('run', 'mmdet', 'analyze_results', DET, results, 'analysis',
            '--topk', '2', '--cfg-options', *opts), tmp_path)
    assert proc.returncode == 0, out[-3000:]
    for kind in ('good', 'bad'):
        assert len(os.listdir(tmp_path / 'analysis' / kind)) == 2

    proc, out = run(
        mim('run', 'mmdet', 'confusion_matrix', DET, results, 'matrix',
            '--score-thr', '0.0', '--cfg-options', *opts), tmp_path)
    assert proc.returncode == 0, out[-3000:]
    assert cv2.imread(str(tmp_path / 'matrix' / 'confusion_matrix.png')) \
        is not None


@pytest.mark.subprocess
def test_tta_is_mmdetections(det, tmp_path):
    """``tools/test.py --tta`` dumps the same predictions as MMDetection's own
    ``tools/test.py --tta`` (run through ``mim test mmdet``)."""
    _, opts, ckpt = det
    ours, theirs = str(tmp_path / 'ours.pkl'), str(tmp_path / 'theirs.pkl')
    proc, out = run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'test.py'), DET, ckpt, '--tta', '--out',
        ours, '--work-dir',
        str(tmp_path / 'a'), '--cfg-options', *opts, *KEEP_ALL
    ], tmp_path)
    assert proc.returncode == 0, out[-3000:]
    assert 'Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all' in out
    proc, out = run(
        mim('test', 'mmdet', DET,
            '--checkpoint', ckpt, '--tta', '--out', theirs, '--work-dir',
            str(tmp_path / 'b'), '--cfg-options', *opts, *KEEP_ALL), tmp_path)
    assert proc.returncode == 0, out[-3000:]
    assert 'mmdet/.mim/tools/test.py' in out
    with open(ours, 'rb') as f, open(theirs, 'rb') as g:
        a, b = pickle.load(f), pickle.load(g)
    assert len(a) == len(b) == 4
    for x, y in zip(a, b):
        assert x['img_id'] == y['img_id']
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(x['pred_instances'][key],
                               y['pred_instances'][key]), key
    assert sum(len(x['pred_instances']['scores']) for x in a) > 0


def test_tta_settings():
    test = load_tool('test.py')
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'retinanet_rla_r50_fpn_1x_coco.py'))
    test.enable_tta(cfg)
    assert cfg.model.type == 'DetTTAModel'
    assert cfg.model.module.backbone.type == 'RLAResNet'
    tta = cfg.test_dataloader.dataset.pipeline[-1]
    assert tta.type == 'TestTimeAug'
    assert [t['prob'] for t in tta.transforms[0]] == [1.0, 0.0]
    pack = tta.transforms[1][0]
    assert pack['type'] == 'PackDetInputs'
    assert {'flip', 'flip_direction', 'scale_factor'} <= set(pack['meta_keys'])
    # a config's own tta settings are kept
    cfg = Config.fromfile(CLS)
    cfg.tta_model = dict(type='AverageClsScoreTTA')
    cfg.tta_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='TestTimeAug', transforms=[[dict(type='PackInputs')]])
    ]
    test.enable_tta(cfg)
    assert cfg.model.type == 'AverageClsScoreTTA'
    assert cfg.test_dataloader.dataset.pipeline == cfg.tta_pipeline
    # classifiers default to MMPretrain's score averaging over the flip
    cfg = Config.fromfile(CLS)
    test.enable_tta(cfg)
    assert cfg.model.type == 'mmpretrain.AverageClsScoreTTA'
    # MMDetection 3.3's DetTTAModel cannot merge masks: said before testing
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'mask_rcnn_rla_r50_fpn_1x_coco.py'))
    with pytest.raises(ValueError, match='model.roi_head.mask_head=None'):
        test.enable_tta(cfg)


@pytest.mark.subprocess
def test_mmpretrain_vis_cam_on_an_rla_classifier(tmp_path):
    from mmpretrain import get_model
    small = ['model.backbone.depth=20', 'model.head.in_channels=76']
    cfg = Config.fromfile(CLS)
    cfg.model.backbone.depth = 20
    cfg.model.head.in_channels = 76
    torch.manual_seed(0)
    ckpt = str(tmp_path / 'rla.pth')
    torch.save({'state_dict': get_model(cfg).state_dict()}, ckpt)
    image = str(tmp_path / 'digit.png')
    cv2.imwrite(
        image,
        np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8))
    # the default (the last norm), a norm, and a block (its output map)
    for i, (target, chosen) in enumerate(
        (([], 'backbone.bn_hidden'),
         (['--target-layers', 'backbone.final_norm'],
          None), (['--target-layers', 'backbone.layer3.2'], None))):
        cam = str(tmp_path / f'cam{i}.png')
        proc, out = run(
            mim('run', 'mmpretrain', 'vis_cam', image, CLS, ckpt,
                '--save-path', cam, *target, '--cfg-options', *small),
            tmp_path)
        assert proc.returncode == 0, out[-3000:]
        if chosen:
            assert f'last norm layer "{chosen}" as the target layer' in out
        drawn = cv2.imread(cam)
        assert drawn is not None and drawn.shape == (32, 32, 3)
