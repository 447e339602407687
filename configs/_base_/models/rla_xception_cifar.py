# RLA-Xception for CIFAR (paper Tables 2 and 9): the thin Xception, k = 12; the
# head reads the last 512 channels + the 12 hidden channels.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='RLAXception', rla_channel=12, cat_hidden=True),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=512 + 12,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
