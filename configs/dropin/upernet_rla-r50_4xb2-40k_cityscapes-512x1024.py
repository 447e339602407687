# MMSegmentation's UPerNet R50 (Cityscapes 512x1024, 40k iterations) with the
# backbone type swapped to RLAResNetV1c. The config's own plain checkpoint
# (pretrained='open-mmlab://resnet50_v1c') initialises the main path exactly;
# the RLA parts start fresh (docs/dropin.md).
_base_ = 'mmseg::upernet/upernet_r50_4xb2-40k_cityscapes-512x1024.py'
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

model = dict(backbone=dict(type='RLAResNetV1c'))
