# Pre-activation ResNet-110 on CIFAR-10: the baseline of
# rla_resnet110_1xb128_cifar10.py,
# the same network and recipe without RLA (rla_channel=0).
_base_ = './rla_resnet110_1xb128_cifar10.py'

model = dict(
    backbone=dict(rla_channel=0, cat_hidden=False), head=dict(in_channels=64))
