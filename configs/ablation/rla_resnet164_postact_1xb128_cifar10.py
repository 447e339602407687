# Table 11, post-activated: Conv-BN-tanh; h joins the classifier as it is
# (as in the authors' ImageNet file).
# Changes only the variant of rla_resnet164_1xb128_cifar10.py.
_base_ = '../rla_resnet164_1xb128_cifar10.py'

model = dict(
    backbone=dict(rla_act='post', hidden_norm=False, hidden_act='none'))
