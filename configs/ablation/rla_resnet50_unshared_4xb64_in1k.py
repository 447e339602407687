# Table 6 (b): conv_out and the recurrent conv per block, not per stage. The
# authors' file adds the shortcut out of place, so the update reads the branch
# output (Eq. 11).
# Changes only the variant of rla_resnet50_4xb64_in1k.py.
_base_ = '../rla_resnet50_4xb64_in1k.py'

model = dict(backbone=dict(rla_shared=False, rla_source='branch'))
