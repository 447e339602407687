# Table 11, channel + 12 (Table 12): the plain pre-activation ResNet-164 with
# bottleneck widths 16+3, 16+3, 64+12 (and so on per stage), no RLA.
# Changes only the variant of rla_resnet164_1xb128_cifar10.py.
_base_ = '../rla_resnet164_1xb128_cifar10.py'

model = dict(
    backbone=dict(rla_channel=0, cat_hidden=False, extra_channels=12),
    head=dict(in_channels=256 + 12))
