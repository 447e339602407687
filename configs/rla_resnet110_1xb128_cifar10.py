# RLA-ResNet-110 (pre-activation basic blocks, k = 4) on CIFAR-10.
# Same recipe as RLA-ResNet-164. Paper test error: 5.88%.
_base_ = './rla_resnet164_1xb128_cifar10.py'

model = dict(
    backbone=dict(depth=110, rla_channel=4), head=dict(in_channels=64 + 4))
