"""Checkpoints in the authors' formats, from random weights: the ImageNet
classifiers as their training script saves them, the detectors as
MMDetection 2.x's runner does, and a folder of every published file.

Shared by the converter tests of both tiers and the README test.
"""
import re
from collections import OrderedDict

import torch

from . import rla_functional as ref

FPN_IN = (256, 512, 1024, 2048)


def write_reference_checkpoint(path, state_dict, arch):
    """Save weights the way the authors' training script does."""
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(1, 2)).sum().backward()
    optimizer.step()
    torch.save(
        dict(
            epoch=120,
            arch=arch,
            best_acc1=torch.tensor(77.17),
            state_dict={
                f'module.{k}': v
                for k, v in state_dict.items()
            },
            optimizer=optimizer.state_dict()), path)


def _conv(sd, key, cout, cin, k, gen, bias=True):
    sd[f'{key}.weight'] = torch.randn(cout, cin, k, k, generator=gen) \
        * (2.0 / (cin * k * k))**0.5
    if bias:
        sd[f'{key}.bias'] = 0.01 * torch.randn(cout, generator=gen)


def _linear(sd, key, cout, cin, gen):
    sd[f'{key}.weight'] = torch.randn(cout, cin, generator=gen) / cin**0.5
    sd[f'{key}.bias'] = 0.01 * torch.randn(cout, generator=gen)


def mmdet2_head_state_dict(detector, num_classes, seed=0):
    """Neck and head weights under MMDetection 2.x's names and shapes."""
    gen = torch.Generator().manual_seed(seed)
    sd = OrderedDict()
    # FPN: R-CNNs read C2-C5 (max-pool P6); RetinaNet C3-C5 + 2 extra convs
    levels = FPN_IN if detector != 'retinanet' else FPN_IN[1:]
    for i, cin in enumerate(levels):
        _conv(sd, f'neck.lateral_convs.{i}.conv', 256, cin, 1, gen)
        _conv(sd, f'neck.fpn_convs.{i}.conv', 256, 256, 3, gen)
    if detector == 'retinanet':  # add_extra_convs='on_input'
        _conv(sd, 'neck.fpn_convs.3.conv', 256, 2048, 3, gen)
        _conv(sd, 'neck.fpn_convs.4.conv', 256, 256, 3, gen)
        for branch in ('cls_convs', 'reg_convs'):
            for i in range(4):
                _conv(sd, f'bbox_head.{branch}.{i}.conv', 256, 256, 3, gen)
        _conv(sd, 'bbox_head.retina_cls', 9 * num_classes, 256, 3, gen)
        _conv(sd, 'bbox_head.retina_reg', 9 * 4, 256, 3, gen)
        return sd
    _conv(sd, 'rpn_head.rpn_conv', 256, 256, 3, gen)
    _conv(sd, 'rpn_head.rpn_cls', 3, 256, 1, gen)  # 3 anchors, sigmoid
    _conv(sd, 'rpn_head.rpn_reg', 3 * 4, 256, 1, gen)
    _linear(sd, 'roi_head.bbox_head.shared_fcs.0', 1024, 256 * 7 * 7, gen)
    _linear(sd, 'roi_head.bbox_head.shared_fcs.1', 1024, 1024, gen)
    _linear(sd, 'roi_head.bbox_head.fc_cls', num_classes + 1, 1024, gen)
    _linear(sd, 'roi_head.bbox_head.fc_reg', 4 * num_classes, 1024, gen)
    if detector == 'mask_rcnn':
        for i in range(4):
            _conv(sd, f'roi_head.mask_head.convs.{i}.conv', 256, 256, 3, gen)
        sd['roi_head.mask_head.upsample.weight'] = torch.randn(
            256, 256, 2, 2, generator=gen) / 32
        sd['roi_head.mask_head.upsample.bias'] = torch.zeros(256)
        _conv(sd, 'roi_head.mask_head.conv_logits', num_classes, 256, 1, gen)
    return sd


def mmdet2_state_dict(detector, depth, eca, num_classes, seed=0):
    backbone = ref.random_resnet_state_dict(
        depth, eca=(5, 5, 5, 7) if eca else None, head=False, seed=seed)
    sd = OrderedDict((f'backbone.{k}', v) for k, v in backbone.items())
    sd.update(mmdet2_head_state_dict(detector, num_classes, seed))
    return sd, backbone


def write_mmdet2_checkpoint(path, state_dict, classes, detector):
    """Save as MMDetection 2.x's runner does (mmcv.runner.save_checkpoint)."""
    layer = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.02, momentum=0.9)
    layer(torch.randn(1, 2)).sum().backward()
    optimizer.step()
    meta = dict(
        env_info='sys.platform: linux\nPyTorch: 1.7.0',
        seed=0,
        exp_name=f'{detector}_r50rla_fpn_1x_coco.py',
        config=f"model = dict(type='{detector}', backbone=dict("
        "type='RLA_ResNet', layers=[3, 4, 6, 3]))\n",
        mmdet_version='2.8.0+7fcb6dc',
        CLASSES=tuple(classes),
        epoch=12,
        iter=87960,
        mmcv_version='1.2.4',
        time='Thu Sep 30 10:00:00 2021',
        hook_msgs=dict(last_ckpt='work_dirs/x/epoch_12.pth'))
    torch.save(
        dict(
            meta=meta, state_dict=state_dict,
            optimizer=optimizer.state_dict()), path)


def small(state_dict):
    """The same keys, shapes and dtypes; tensor i holds the number i + 1 (one
    stored element each). One tensor under several keys stays one tensor."""
    made, out = {}, {}
    for key, value in state_dict.items():
        if id(value) not in made:
            made[id(value)] = torch.tensor(
                len(made) + 1, dtype=value.dtype).expand(value.shape)
        out[key] = made[id(value)]
    return out


def write_published(folder):
    """Every published file in ``folder`` (a Path), in the authors' format,
    with small storage. Each backbone's weights are made once: the detectors'
    backbones are the classifiers' without ``bn2`` and ``fc``
    (``mmdetection/resnet_rla.py``)."""
    from rla_mm.converters import mmdet2
    from rla_mm.converters.published import published_checkpoints
    classifiers, heads = {}, {}
    for entry in published_checkpoints():
        if entry.kind == 'classifier':
            eca = entry.arch.endswith('_eca')
            if entry.arch.startswith('dsrla_mobilenetv2'):
                sd = ref.random_mobilenet_state_dict(eca=eca, num_classes=1000)
            else:
                depth = int(re.search(r'resnet(\d+)', entry.arch).group(1))
                sd = ref.random_resnet_state_dict(
                    depth, eca=(5, 5, 5, 7) if eca else None, num_classes=1000)
            classifiers[entry.arch] = sd
            write_reference_checkpoint(folder / entry.file, small(sd),
                                       entry.arch)
            continue
        found = mmdet2.detector_of_config(entry.config)
        backbone = classifiers[
            f'rla_resnet{found.depth}{"_eca" if found.eca else ""}']
        if found.detector not in heads:
            heads[found.detector] = mmdet2_head_state_dict(found.detector, 80)
        sd = {
            f'backbone.{k}': v
            for k, v in backbone.items() if not k.startswith(('bn2.', 'fc.'))
        }
        sd.update(heads[found.detector])
        write_mmdet2_checkpoint(folder / entry.file, small(sd),
                                [f'class{i}' for i in range(80)],
                                found.detector)
