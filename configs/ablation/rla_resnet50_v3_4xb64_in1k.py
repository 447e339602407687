# Table 6 (g), RLA-v3: conv_out reads the block output, added before the
# recurrent conv. The same model as the main rla_resnet50_4xb64_in1k.py.
# Changes only the variant of rla_resnet50_4xb64_in1k.py.
_base_ = '../rla_resnet50_4xb64_in1k.py'

model = dict(backbone=dict(rla_source='output', rla_add='before'))
