# RLA-ResNet-50 ImageNet classifier (paper Table 3): the hidden state joins the
# last stage output, so the linear head reads 2048 + 32 channels.
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='RLAResNet',
        depth=50,
        rla_channel=32,
        out_indices=(3, ),
        cat_hidden=True,
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048 + 32,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
