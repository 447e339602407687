# Table 11, RLA-v1 (Eq. 11): the main rla_resnet164_1xb128_cifar10.py model.
# Changes only the variant of rla_resnet164_1xb128_cifar10.py.
_base_ = '../rla_resnet164_1xb128_cifar10.py'

model = dict(backbone=dict(rla_source='branch', rla_add='before'))
