# RLA-ECA-ResNet-50† (paper Table 3, B.2.2): RLA-ResNet-50† with ECA after the
# last norm of every block, kernel sizes (5, 5, 5, 7). Paper: 19.31% top-1
# error.
_base_ = './rla_resnet50d_4xb64_tricks_in1k.py'

model = dict(backbone=dict(eca=(5, 5, 5, 7)))
