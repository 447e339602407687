# MMDetection's DINO (4 scales) R50 12e with the backbone type swapped to
# RLAResNet; the RLA ImageNet weights initialise the backbone.
_base_ = 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py'
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='RLAResNet',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/rla_resnet50_in1k.pth',
            prefix='backbone.')))
