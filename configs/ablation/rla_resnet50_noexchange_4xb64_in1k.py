# Table 6 (c): the blocks do not read h (their first conv takes x alone); h is
# still updated and joins the classifier.
# Changes only the variant of rla_resnet50_4xb64_in1k.py.
_base_ = '../rla_resnet50_4xb64_in1k.py'

model = dict(backbone=dict(rla_exchange=False))
