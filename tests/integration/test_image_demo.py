"""demo/image_demo.py: MMDetection's and MMPretrain's inferencers on our
configs, on an image or a folder of the embedded digits data."""
import importlib.util
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from rla_testkit.checkout import REPO_ROOT, load_tool
from rla_testkit.models import save_untrained

from rla_mm.safe_loading import CorruptCheckpointError

DEMO = osp.join(REPO_ROOT, 'configs', 'demo')


def load_demo():
    path = osp.join(REPO_ROOT, 'demo', 'image_demo.py')
    spec = importlib.util.spec_from_file_location('image_demo', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_config(folder, name, base, body):
    """A user's config: our config as ``_base_`` plus a delta."""
    path = osp.join(folder, name)
    with open(path, 'w') as f:
        f.write(f'_base_ = {base!r}\n{body}')
    return path


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('demo'))
    digits = osp.join(folder, 'digits')
    load_tool('data/make_digits_cls.py').make_dataset(digits, seed=0)
    coco = osp.join(folder, 'coco')
    load_tool('data/make_digits_coco.py').make_dataset(
        coco, num_train=2, num_val=2)
    classes = list(
        Config.fromfile(osp.join(DEMO, 'rla_resnet164_digits.py')).classes)
    cls = write_config(
        folder, 'rla_resnet20_digits.py',
        osp.join(DEMO, 'rla_resnet164_digits.py'),
        'model = dict(backbone=dict(depth=20), head=dict(in_channels=76))\n')
    det = osp.join(DEMO, 'faster_rcnn_rla_r18_fpn_digits.py')
    # Mask R-CNN: the paper's config shrunk as the Faster R-CNN demo is.
    mask = write_config(
        folder, 'mask_rcnn_rla_r18_digits.py',
        osp.join(REPO_ROOT, 'configs', 'mask_rcnn_rla_r50_fpn_1x_coco.py'),
        f'''
model = dict(
    backbone=dict(depth=18, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=128, num_classes=10),
        mask_roi_extractor=dict(out_channels=64),
        mask_head=dict(in_channels=64, conv_out_channels=64,
                       num_classes=10)))
test_dataloader = dict(dataset=dict(
    metainfo=dict(classes={tuple(classes)!r}),
    pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(160, 160), keep_ratio=True),
        dict(type='PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                        'scale_factor'))]))
''')
    return dict(
        folder=folder,
        digits=digits,
        coco=coco,
        classes=classes,
        cls=cls,
        cls_ckpt=save_untrained(
            cls, osp.join(folder, 'cls.pth'), classes=classes),
        det=det,
        det_ckpt=save_untrained(
            det, osp.join(folder, 'det.pth'), classes=classes),
        mask=mask,
        mask_ckpt=save_untrained(
            mask, osp.join(folder, 'mask.pth'), classes=classes))


def drawn(picture, image):
    """The picture is the image with something drawn on it."""
    out, src = cv2.imread(picture), cv2.imread(image)
    assert out is not None
    if out.shape != src.shape:  # a visualizer may pad the canvas
        return True
    return np.abs(out.astype(int) - src.astype(int)).sum() > 0


def test_classifier_on_a_folder_writes_top_k_pictures(setup, tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    for name in ('0002.png', '0018.png'):
        src = osp.join(setup['digits'], 'test', name)
        (images / name).write_bytes(open(src, 'rb').read())
    (images / 'notes.txt').write_text('not an image')
    out = str(tmp_path / 'out')
    load_demo().main([
        str(images), setup['cls'], '--weights', setup['cls_ckpt'], '--out-dir',
        out, '--topk', '3'
    ])
    assert sorted(os.listdir(osp.join(out, 'vis'))) == ['0002.png', '0018.png']
    assert sorted(os.listdir(osp.join(out,
                                      'preds'))) == ['0002.json', '0018.json']
    for name in ('0002', '0018'):
        with open(osp.join(out, 'preds', name + '.json')) as f:
            pred = json.load(f)
        assert len(pred['labels']) == len(pred['scores']) == 3
        assert pred['scores'] == sorted(pred['scores'], reverse=True)
        assert pred['classes'] == [setup['classes'][i] for i in pred['labels']]
        assert drawn(
            osp.join(out, 'vis', name + '.png'), str(images / (name + '.png')))


@pytest.mark.parametrize('model', ['det', 'mask'])
def test_detector_on_an_image_draws_boxes(model, setup, tmp_path):
    image = osp.join(setup['coco'], 'val', '00001.png')
    out = str(tmp_path / 'out')
    # An untrained model scores low: draw everything it predicts.
    load_demo().main([
        image, setup[model], '--weights', setup[model + '_ckpt'], '--out-dir',
        out, '--pred-score-thr', '0'
    ])
    assert os.listdir(osp.join(out, 'vis')) == ['00001.png']
    with open(osp.join(out, 'preds', '00001.json')) as f:
        pred = json.load(f)
    assert len(pred['bboxes']) == len(pred['labels']) == len(
        pred['scores']) > 0
    assert ('masks' in pred) == (model == 'mask')
    assert drawn(osp.join(out, 'vis', '00001.png'), image)


def test_bad_inputs_are_named(setup, tmp_path):
    demo = load_demo()
    # The RLA-ResNet-20 weights do not fit RLA-ResNet-164.
    with pytest.raises(ValueError, match='do not fit the model of the config'):
        demo.main([
            osp.join(setup['digits'], 'test', '0002.png'),
            osp.join(DEMO, 'rla_resnet164_digits.py'), '--weights',
            setup['cls_ckpt'], '--out-dir',
            str(tmp_path)
        ])
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(open(setup['cls_ckpt'], 'rb').read()[:5000])
    with pytest.raises(CorruptCheckpointError, match='cut.pth.* truncated'):
        demo.main([setup['digits'], setup['cls'], '--weights', str(cut)])
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match='no image'):
        demo.main([str(empty), setup['cls'], '--weights', setup['cls_ckpt']])
    with pytest.raises(SystemExit):
        demo.main([
            str(empty), setup['cls'], '--weights', setup['cls_ckpt'], '--topk',
            '0'
        ])
