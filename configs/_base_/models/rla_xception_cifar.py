# RLA-Xception for CIFAR (paper Table 2): thin Xception, k = 12; the head reads
# the 1024 exit channels + 12 hidden channels.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='RLAXception', rla_channel=12, cat_hidden=True),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=1024 + 12,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
