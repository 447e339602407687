# Table 6 (f), RLA-v2 as the authors' file computes it: h_t = R(tanh(BN_t(h)))
# + O(x_t), with the block output x_t (its y aliases it; the same function as
# v4). rla_source='branch' gives the paper's branch output.
# Changes only the variant of rla_resnet50_4xb64_in1k.py.
_base_ = '../rla_resnet50_4xb64_in1k.py'

model = dict(backbone=dict(rla_source='output', rla_add='after'))
