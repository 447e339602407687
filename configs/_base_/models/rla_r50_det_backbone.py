# The RLA-ResNet-50 backbone of the paper's COCO detectors (Sec. 4.3): stage 1
# and the stem frozen (with their RLA parts), BN statistics frozen, hidden
# state dropped before the FPN, initialised from the converted ImageNet
# classifier (tools/model_converters/rlanet_to_rla_mm.py; see README.md).
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

rla_backbone = dict(
    _delete_=True,
    type='RLAResNet',
    depth=50,
    rla_channel=32,
    out_indices=(0, 1, 2, 3),
    frozen_stages=1,
    norm_cfg=dict(type='BN', requires_grad=True),
    norm_eval=True,
    style='pytorch',
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/rla_resnet50_in1k.pth',
        prefix='backbone.'))
