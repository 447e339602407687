# RLA-Xception for CIFAR (paper Tables 2 and 9): the thin Xception, k = 12, in
# the classifier of RLA-ResNet-164; the head reads the last 512 channels + the
# 12 hidden channels.
_base_ = './rla_preact_resnet164_cifar.py'

model = dict(
    backbone=dict(
        _delete_=True, type='RLAXception', rla_channel=12, cat_hidden=True),
    head=dict(in_channels=512 + 12))
