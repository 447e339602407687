# `make demo-seg`: pspnet_r18-d8_digits.py with the backbone type swapped to
# its RLA twin (RLAResNetV1c, k = 32); recipe and budget are the same.
_base_ = './pspnet_r18-d8_digits.py'
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

model = dict(backbone=dict(type='RLAResNetV1c'))
