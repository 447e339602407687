# Table 11, RLA-v4: h_t = R(tanh(BN_t(h))) + O(x_t).
# Changes only the variant of rla_resnet164_1xb128_cifar10.py.
_base_ = '../rla_resnet164_1xb128_cifar10.py'

model = dict(backbone=dict(rla_source='output', rla_add='after'))
