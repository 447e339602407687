# Table 11, RLA-v6: h_t = R(tanh(BN_t(h))) + O(shortcut).
# Changes only the variant of rla_resnet164_1xb128_cifar10.py.
_base_ = '../rla_resnet164_1xb128_cifar10.py'

model = dict(backbone=dict(rla_source='shortcut', rla_add='after'))
