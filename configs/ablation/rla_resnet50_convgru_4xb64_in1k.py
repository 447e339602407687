# Not in Table 6: the authors' code also has a ConvGRU cell (group-normalised
# gates); h joins the classifier as it is, as in their file.
# Changes only the variant of rla_resnet50_4xb64_in1k.py.
_base_ = '../rla_resnet50_4xb64_in1k.py'

model = dict(
    backbone=dict(rla_cell='gru', hidden_norm=False, hidden_act='none'))
