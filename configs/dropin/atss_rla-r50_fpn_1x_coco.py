# MMDetection's ATSS R50-FPN 1x with the backbone type swapped to RLAResNet;
# the RLA ImageNet weights initialise the backbone.
_base_ = 'mmdet::atss/atss_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='RLAResNet',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/rla_resnet50_in1k.pth',
            prefix='backbone.')))
