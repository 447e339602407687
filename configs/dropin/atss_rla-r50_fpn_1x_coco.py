# MMDetection's ATSS R50-FPN 1x with the backbone type swapped to RLAResNet;
# the RLA ImageNet weights initialise the backbone.
_base_ = [
    'mmdet::atss/atss_r50_fpn_1x_coco.py', '../_base_/models/rla_r50_swap.py'
]

model = dict(backbone={{_base_.rla_swap}})
