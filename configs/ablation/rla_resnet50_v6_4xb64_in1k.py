# Table 6 (j), RLA-v6: h_t = R(tanh(BN_t(h))) + O(shortcut).
# Changes only the variant of rla_resnet50_4xb64_in1k.py.
_base_ = '../rla_resnet50_4xb64_in1k.py'

model = dict(backbone=dict(rla_source='shortcut', rla_add='after'))
