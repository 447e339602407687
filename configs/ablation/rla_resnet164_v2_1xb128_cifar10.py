# Table 11, RLA-v2: h_t = R(tanh(BN_t(h))) + O(y_t), y_t the branch output.
# Changes only the variant of rla_resnet164_1xb128_cifar10.py.
_base_ = '../rla_resnet164_1xb128_cifar10.py'

model = dict(backbone=dict(rla_source='branch', rla_add='after'))
