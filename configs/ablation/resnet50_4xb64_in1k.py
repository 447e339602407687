# The plain ResNet-50 (Table 6's baseline): rla_channel=0 builds no RLA parts.
# Changes only the variant of rla_resnet50_4xb64_in1k.py.
_base_ = '../rla_resnet50_4xb64_in1k.py'

model = dict(
    backbone=dict(rla_channel=0, cat_hidden=False),
    head=dict(in_channels=2048))
