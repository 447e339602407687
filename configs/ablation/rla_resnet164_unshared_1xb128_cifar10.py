# Table 11, unshared: conv_out and the recurrent conv per block.
# Changes only the variant of rla_resnet164_1xb128_cifar10.py.
_base_ = '../rla_resnet164_1xb128_cifar10.py'

model = dict(backbone=dict(rla_shared=False))
