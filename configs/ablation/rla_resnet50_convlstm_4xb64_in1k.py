# Table 6 (d): a ConvLSTM cell replaces the recurrent conv; it reads
# tanh(BN(conv_out(y))) and carries its cell state beside h. h joins the
# classifier as it is (no bn_hidden, no activation), as in the authors' file.
# Changes only the variant of rla_resnet50_4xb64_in1k.py.
_base_ = '../rla_resnet50_4xb64_in1k.py'

model = dict(
    backbone=dict(rla_cell='lstm', hidden_norm=False, hidden_act='none'))
