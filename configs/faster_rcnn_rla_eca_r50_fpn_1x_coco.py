_base_ = './faster_rcnn_rla_r50_fpn_1x_coco.py'

# ECA after the last norm of every block, kernel sizes (5, 5, 5, 7) per stage.
model = dict(
    backbone=dict(
        eca=(5, 5, 5, 7),
        init_cfg=dict(checkpoint='checkpoints/rla_eca_resnet50_in1k.pth')))
