"""ONNX export of detectors and classifiers (tools/deployment/export_onnx.py),
checked against PyTorch with ONNX Runtime's CPU provider.

Small models: ResNet-18-sized backbones (RLA and the plain ResNet twin), narrow
necks and heads, images of 100-230 px; checkpoints are made here, with head
biases set so that detections pass the score threshold.
"""
import json
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from rla_testkit import process
from rla_testkit.checkout import REPO_ROOT

from rla_mm.deployment import (OrtClassifier, OrtDetector, detections_agree,
                               export_model, load_model, verify_detector)

TOOL = osp.join(REPO_ROOT, 'tools', 'deployment', 'export_onnx.py')
PAPER = {
    'faster': 'faster_rcnn_rla_r50_fpn_1x_coco.py',
    'mask': 'mask_rcnn_rla_r50_fpn_1x_coco.py',
    'retina': 'retinanet_rla_r50_fpn_1x_coco.py'
}
PLAIN_DET = dict(
    _delete_=True,
    type='mmdet.ResNet',
    depth=18,
    out_indices=(0, 1, 2, 3),
    frozen_stages=1,
    norm_eval=True,
    style='pytorch',
    init_cfg=None)
# two-stage heads narrowed to 64 channels, fewer proposals and detections
TWO_STAGE = dict(
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=128)),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=100), rcnn=dict(max_per_img=20)))
MASK = dict(
    mask_roi_extractor=dict(out_channels=64),
    mask_head=dict(in_channels=64, conv_out_channels=64))
RETINA = dict(
    bbox_head=dict(in_channels=64, feat_channels=64),
    test_cfg=dict(max_per_img=30))
# the COCO test pipeline, scaled down to keep the check fast
SMALL_TEST_PIPELINE = """
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(240, 160), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                          'img_shape', 'scale_factor')),
]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
"""


def write_det_config(folder, detector: str, backbone: str) -> str:
    """A small config on the paper's ``detector`` config, with an RLA-ResNet-18
    (``backbone='rla'``) or ResNet-18 (``'plain'``) backbone."""
    import copy
    model = copy.deepcopy(RETINA if detector == 'retina' else TWO_STAGE)
    model['backbone'] = dict(depth=18, init_cfg=None) if backbone == 'rla' \
        else PLAIN_DET
    model['neck'] = dict(in_channels=[64, 128, 256, 512], out_channels=64)
    if detector == 'mask':
        model['roi_head'].update(MASK)
    lines = [
        f"_base_ = {osp.join(REPO_ROOT, 'configs', PAPER[detector])!r}",
        f'model = {model!r}', SMALL_TEST_PIPELINE
    ]
    path = osp.join(str(folder), f'{detector}_{backbone}_r18.py')
    with open(path, 'w') as f:
        f.write('\n'.join(lines))
    return path


def make_det_checkpoint(config: str, path: str) -> str:
    """Save the config's detector with random weights and its class biases
    raised, so that many detections pass the test score threshold of 0.05."""
    torch.manual_seed(0)
    model, _, _ = load_model(config)
    with torch.no_grad():
        if hasattr(model, 'roi_head'):
            fc = model.roi_head.bbox_head.fc_cls
            fc.weight.normal_(0, 0.1)
            fc.bias.zero_()
            fc.bias[:5] = 3.0  # about 0.1 each of the 81-way softmax
        else:
            model.bbox_head.retina_cls.weight.normal_(0, 0.05)
            model.bbox_head.retina_cls.bias.fill_(-1.5)
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def write_image(path: str, height: int, width: int, seed: int = 0) -> str:
    import mmcv
    rng = np.random.RandomState(seed)
    mmcv.imwrite((rng.rand(height, width, 3) * 255).astype(np.uint8), path)
    return path


def raw_batch(height: int, width: int, batch: int = 1):
    """A pre-processed batch and its data samples, with no padding: the graph
    itself runs at ``height`` x ``width``."""
    from mmdet.structures import DetDataSample
    torch.manual_seed(height * 1000 + width)
    samples = []
    for _ in range(batch):
        sample = DetDataSample()
        sample.set_metainfo(
            dict(
                img_shape=(height, width),
                ori_shape=(height, width),
                scale_factor=(1.0, 1.0),
                batch_input_shape=(height, width),
                pad_shape=(height, width)))
        samples.append(sample)
    return torch.randn(batch, 3, height, width), samples


def assert_agree(all_stats, mask: bool):
    for stats in all_stats:
        assert stats['num_ref'] > 0, 'no detections to compare'
        assert not detections_agree(stats), stats
        assert ('mask_iou_min' in stats) == mask


@pytest.mark.subprocess
def test_export_tool_mask_rcnn_one_dynamic_export_at_two_sizes(tmp_path):
    # the command of docs/deploy.md on Mask R-CNN with RLA-ResNet-18
    config = write_det_config(tmp_path, 'mask', 'rla')
    ckpt = make_det_checkpoint(config, str(tmp_path / 'mask.pth'))
    image = write_image(str(tmp_path / 'img.png'), 173, 229)
    out = tmp_path / 'onnx'
    proc = process.run([
        sys.executable, TOOL, config, ckpt, '--out-dir',
        str(out), '--verify', image
    ],
                       capture_output=True,
                       text=True,
                       timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'roi_mask_head.onnx' in proc.stdout
    report = json.loads((out / 'export.json').read_text())
    files = [g['file'] for g in report['graphs']]
    assert files == ['model.onnx', 'roi_bbox_head.onnx', 'roi_mask_head.onnx']
    main = report['graphs'][0]
    assert main['inputs'][0]['name'] == 'image'
    # batch, height and width are symbolic in the file, channels fixed
    n, c, h, w = main['inputs'][0]['shape']
    assert c == 3 and all(isinstance(d, str) for d in (n, h, w))
    assert [o['name'] for o in main['outputs']][:2] == ['feat0', 'feat1']
    assert main['opset'] >= 17
    assert report['preprocess']['channel_order'] == 'RGB'
    assert report['preprocess']['mean'] == [123.675, 116.28, 103.53]
    verify = report['verify']
    assert verify['ok'], verify['problems']
    assert verify['num_ref'] == verify['num_got'] == verify['matched'] > 0
    assert verify['mask_iou_min'] >= 0.99
    assert (out /
            'export.md').read_text().startswith('# ONNX export (detector)')

    # the same files at two sizes that are not multiples of 32, no padding
    model, _, _ = load_model(config, ckpt)
    detector = OrtDetector(model, str(out))
    for height, width in ((150, 202), (119, 173)):
        inputs, samples = raw_batch(height, width)
        feats = detector.raw_outputs(inputs)[:4]
        assert [tuple(f.shape[-2:]) for f in feats] == [
            (-(-height // s), -(-width // s)) for s in (4, 8, 16, 32)
        ]
        assert_agree(
            verify_detector(
                model, str(out), inputs, samples, detector=detector),
            mask=True)
    # the RoI heads' layers ran in ONNX Runtime, the model's own stayed
    for head in ('bbox_head', 'mask_head'):
        assert getattr(detector.roi_head, head).forward.calls == 2
        assert 'forward' not in vars(getattr(model.roi_head, head))


@pytest.mark.parametrize('detector,backbone,size', [
    ('faster', 'rla', (131, 187)),
    ('retina', 'rla', (150, 202)),
    ('mask', 'plain', (119, 173)),
    ('retina', 'plain', (131, 187)),
])
def test_detector_matches_pytorch(tmp_path, detector, backbone, size):
    config = write_det_config(tmp_path, detector, backbone)
    ckpt = make_det_checkpoint(config, str(tmp_path / 'det.pth'))
    model, _, kind = load_model(config, ckpt)
    report = export_model(model, kind, str(tmp_path), shape=(96, 128))
    two_stage = detector != 'retina'
    assert len(report['graphs']) == {
        'faster': 2,
        'mask': 3,
        'retina': 1
    }[detector]
    outputs = [o['name'] for o in report['graphs'][0]['outputs']]
    assert outputs[0] == ('feat0' if two_stage else 'cls_score0')
    inputs, samples = raw_batch(*size, batch=2)
    assert_agree(
        verify_detector(model, str(tmp_path), inputs, samples),
        mask=detector == 'mask')


CLS_RLA = """
_base_ = {base!r}
model = dict(backbone=dict(depth=18), head=dict(in_channels=512 + 32))
"""
CLS_PLAIN = """
_base_ = {base!r}
model = dict(backbone=dict(_delete_=True, type='ResNet', depth=18,
                           out_indices=(3, )),
             head=dict(in_channels=512))
"""


@pytest.mark.parametrize('backbone', ['rla', 'plain'])
def test_export_tool_classifier(tmp_path, backbone):
    from rla_testkit.checkout import load_tool
    base = osp.join(REPO_ROOT, 'configs', 'rla_resnet50_4xb64_in1k.py')
    config = str(tmp_path / f'cls_{backbone}.py')
    with open(config, 'w') as f:
        f.write(
            (CLS_RLA if backbone == 'rla' else CLS_PLAIN).format(base=base))
    torch.manual_seed(0)
    model, _, _ = load_model(config)
    ckpt = str(tmp_path / 'cls.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    images = [
        write_image(str(tmp_path / f'{i}.jpg'), 241, 300, seed=i)
        for i in range(2)
    ]
    out = str(tmp_path / 'onnx')
    tool = load_tool('deployment/export_onnx.py')
    assert tool.main([config, ckpt, '--out-dir', out, '--verify',
                      *images]) == 0
    with open(osp.join(out, 'export.json')) as f:
        report = json.load(f)
    assert report['verify']['ok'] and report['verify']['images'] == 2
    assert report['verify']['logits_max_abs'] < 1e-4
    assert report['graphs'][0]['outputs'][0]['shape'][1] == 1000
    # the classifier graph at other sizes and batches, against the checkpoint
    model, _, _ = load_model(config, ckpt)
    ort_model = OrtClassifier(out)
    for shape in ((1, 3, 97, 131), (3, 3, 224, 224)):
        x = torch.randn(shape)
        with torch.no_grad():
            expected = model(x, mode='tensor')
        got = ort_model(x)
        assert got.shape == expected.shape == (shape[0], 1000)
        assert (got - expected).abs().max() < 1e-4
