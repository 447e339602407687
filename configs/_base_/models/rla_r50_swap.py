# The drop-in swap of configs/dropin/: the inherited config's ResNet-50
# backbone with only its type changed to RLAResNet (every other argument stays
# the config's), initialised from the converted RLA ImageNet classifier
# (tools/model_converters/rlanet_to_rla_mm.py --all; see README.md).
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

rla_swap = dict(
    type='RLAResNet',
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/rla_resnet50_in1k.pth',
        prefix='backbone.'))
