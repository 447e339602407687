"""Code that hooks a backbone's blocks: pytorch-grad-cam (MMPretrain's
``vis_cam.py``) and a detector's feature hooks."""
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.registry import init_default_scope
from pytorch_grad_cam import GradCAM

import rla_mm  # noqa: F401  (registers the backbones)
from rla_mm.registry import MODELS


class Logits(nn.Module):
    """A classifier's logits, as ``vis_cam.py`` wraps it."""

    def __init__(self, classifier):
        super().__init__()
        self.classifier = classifier

    def forward(self, x):
        return self.classifier(x, mode='tensor')


def classifier(backbone: dict, channels: int) -> nn.Module:
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='mmpretrain.ImageClassifier',
            backbone=backbone,
            neck=dict(type='mmpretrain.GlobalAveragePooling'),
            head=dict(
                type='mmpretrain.LinearClsHead',
                num_classes=5,
                in_channels=channels))).eval()


@pytest.mark.parametrize('backbone,channels', [
    (dict(
        type='mmpretrain.ResNet', depth=18, base_channels=8,
        stem_channels=8), 64),
    (dict(
        type='RLAResNet',
        depth=18,
        base_channels=8,
        stem_channels=8,
        rla_channel=4,
        out_indices=(3, ),
        cat_hidden=True), 64 + 4),
])
def test_grad_cam_on_the_last_block(backbone, channels):
    model = classifier(backbone, channels)
    target = model.backbone.layer4[-1]
    cam = GradCAM(model=Logits(model), target_layers=[target])
    x = torch.randn(2, 3, 64, 64)
    maps = cam(input_tensor=x)
    assert maps.shape == (2, 64, 64) and np.isfinite(maps).all()
    assert maps.max() > 0  # the last block's map matters for the logits


def test_a_detector_hook_on_the_last_block_sees_the_fpn_input():
    init_default_scope('mmdet')
    torch.manual_seed(0)
    backbone = MODELS.build(
        dict(
            type='RLAResNet',
            depth=18,
            base_channels=8,
            stem_channels=8,
            rla_channel=4)).eval()
    seen = []
    backbone.layer4[-1].register_forward_hook(
        lambda module, args, out: seen.append(out))
    with torch.no_grad():
        feats = backbone(torch.randn(1, 3, 65, 63))
    assert len(seen) == 1 and seen[0] is feats[-1]
    assert feats[-1].shape == (1, 64, 3, 2)
