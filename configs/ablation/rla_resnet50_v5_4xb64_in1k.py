# Table 6 (i), RLA-v5: conv_out reads the block's shortcut (its input after
# the projection), added before the recurrent conv.
# Changes only the variant of rla_resnet50_4xb64_in1k.py.
_base_ = '../rla_resnet50_4xb64_in1k.py'

model = dict(backbone=dict(rla_source='shortcut', rla_add='before'))
