# Table 15: RLA-ResNet-101 with conv_out and the recurrent conv per block.
# Changes only the variant of rla_resnet101_4xb64_in1k.py.
_base_ = '../rla_resnet101_4xb64_in1k.py'

model = dict(backbone=dict(rla_shared=False, rla_source='branch'))
