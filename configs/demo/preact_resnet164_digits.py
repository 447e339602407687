# `make demo-cls`: the plain pre-activation ResNet-164 with the same recipe and
# budget as rla_resnet164_digits.py (rla_channel=0: no RLA parts).
_base_ = './rla_resnet164_digits.py'

model = dict(
    backbone=dict(rla_channel=0, cat_hidden=False), head=dict(in_channels=256))
