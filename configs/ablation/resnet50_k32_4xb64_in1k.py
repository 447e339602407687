# Table 6 (a): a plain ResNet-50 with every block 32 channels wider at its
# output (inner widths + 8), no RLA.
# Changes only the variant of rla_resnet50_4xb64_in1k.py.
_base_ = '../rla_resnet50_4xb64_in1k.py'

model = dict(
    backbone=dict(rla_channel=0, cat_hidden=False, extra_channels=32),
    head=dict(in_channels=2048 + 32))
