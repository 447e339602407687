# Table 13: RLA-ResNet-164 with k = 8.
# Changes only the variant of rla_resnet164_1xb128_cifar10.py.
_base_ = '../rla_resnet164_1xb128_cifar10.py'

model = dict(backbone=dict(rla_channel=8), head=dict(in_channels=256 + 8))
