# RLA-Xception (the thin CIFAR Xception of Table 9, k = 12) on CIFAR-100: the
# recipe of RLA-ResNet-164 (B.1: 45k/5k split, Nesterov SGD, 300 epochs) with
# the Xception backbone. Paper test error: 24.00%.
_base_ = './rla_resnet164_1xb128_cifar100.py'

model = dict(
    backbone=dict(
        _delete_=True, type='RLAXception', rla_channel=12, cat_hidden=True),
    head=dict(in_channels=512 + 12))
