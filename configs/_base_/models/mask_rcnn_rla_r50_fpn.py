# MMDetection's mask-rcnn_r50_fpn with the RLA-ResNet-50 backbone.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    './rla_r50_det_backbone.py',
]

model = dict(backbone={{_base_.rla_backbone}})
