# RLA-ECA-ResNet-50: ECA after the last norm of every block, 1-D kernel sizes
# (5, 5, 5, 7) per stage. Same recipe as RLA-ResNet-50.
_base_ = './rla_resnet50_4xb64_in1k.py'

model = dict(backbone=dict(eca=(5, 5, 5, 7)))
