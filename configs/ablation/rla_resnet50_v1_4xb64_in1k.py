# Table 6, the proposed RLA-v1 as the authors' file computes it: conv_out reads
# the block output (its y aliases the block output), and the head is bn_hidden
# then tanh. rla_source='branch' gives Eq. 11's reading of the branch output.
# Changes only the variant of rla_resnet50_4xb64_in1k.py.
_base_ = '../rla_resnet50_4xb64_in1k.py'

model = dict(
    backbone=dict(rla_source='output', rla_add='before', hidden_act='tanh'))
