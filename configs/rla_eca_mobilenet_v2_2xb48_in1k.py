# RLA-ECA-MobileNetV2: ECA after every block, kernel 1 below 96 channels, else
# 3.
_base_ = './rla_mobilenet_v2_2xb48_in1k.py'

model = dict(backbone=dict(eca=True))
