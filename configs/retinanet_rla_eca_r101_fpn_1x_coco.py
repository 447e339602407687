_base_ = './retinanet_rla_eca_r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='checkpoints/rla_eca_resnet101_in1k.pth')))
