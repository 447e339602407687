# MMDetection's DINO (4 scales) R50 12e with the backbone type swapped to
# RLAResNet; the RLA ImageNet weights initialise the backbone.
_base_ = [
    'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py',
    '../_base_/models/rla_r50_swap.py'
]

model = dict(backbone={{_base_.rla_swap}})
