# Table 13: RLA-ResNet-164 with k = 12 (the main model).
# Changes only the variant of rla_resnet164_1xb128_cifar10.py.
_base_ = '../rla_resnet164_1xb128_cifar10.py'

model = dict(backbone=dict(rla_channel=12), head=dict(in_channels=256 + 12))
