# RLA-ResNet-164 for CIFAR (paper Table 2): pre-activation bottlenecks, k = 12.
# The hidden state joins the last stage output: the head reads 256 + 12
# channels.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='RLAPreActResNet', depth=164, rla_channel=12, cat_hidden=True),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=256 + 12,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
