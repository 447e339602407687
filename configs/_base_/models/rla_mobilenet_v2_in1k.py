# RLA-MobileNetV2 ImageNet classifier (paper Table 3, Appendix B.2.1): the
# hidden state joins before the last 1x1 conv (320 + 32 -> 1280).
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='RLAMobileNetV2', rla_channel=32, widen_factor=1.0),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1280,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
