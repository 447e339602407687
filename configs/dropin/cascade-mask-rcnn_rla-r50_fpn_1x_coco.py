# MMDetection's Cascade Mask R-CNN R50-FPN 1x with the backbone type swapped to
# RLAResNet: the whole change. The RLA ImageNet weights (converted with
# tools/model_converters/rlanet_to_rla_mm.py) initialise the backbone.
_base_ = [
    'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py',
    '../_base_/models/rla_r50_swap.py'
]

model = dict(backbone={{_base_.rla_swap}})
