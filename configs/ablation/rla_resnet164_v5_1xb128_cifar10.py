# Table 11, RLA-v5: conv_out reads the block's shortcut, added before R.
# Changes only the variant of rla_resnet164_1xb128_cifar10.py.
_base_ = '../rla_resnet164_1xb128_cifar10.py'

model = dict(backbone=dict(rla_source='shortcut', rla_add='before'))
