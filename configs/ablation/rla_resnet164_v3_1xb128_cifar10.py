# Table 11, RLA-v3: conv_out reads the block output x_t, added before R.
# Changes only the variant of rla_resnet164_1xb128_cifar10.py.
_base_ = '../rla_resnet164_1xb128_cifar10.py'

model = dict(backbone=dict(rla_source='output', rla_add='before'))
