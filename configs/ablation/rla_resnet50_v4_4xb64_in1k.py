# Table 6 (h), RLA-v4: h_t = R(tanh(BN_t(h))) + O(x_t), x_t the block output.
# Changes only the variant of rla_resnet50_4xb64_in1k.py.
_base_ = '../rla_resnet50_4xb64_in1k.py'

model = dict(backbone=dict(rla_source='output', rla_add='after'))
