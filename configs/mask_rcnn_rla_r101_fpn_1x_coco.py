_base_ = './mask_rcnn_rla_r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='checkpoints/rla_resnet101_in1k.pth')))
