# Table 6 (e): Conv-BN-tanh (h_t = tanh(BN_t(R(h + O(y))))) instead of
# BN-tanh-Conv; h joins the classifier as it is, as in the authors' file.
# Changes only the variant of rla_resnet50_4xb64_in1k.py.
_base_ = '../rla_resnet50_4xb64_in1k.py'

model = dict(
    backbone=dict(rla_act='post', hidden_norm=False, hidden_act='none'))
