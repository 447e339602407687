_base_ = './rla_resnet50_4xb64_in1k.py'

model = dict(backbone=dict(depth=101))
