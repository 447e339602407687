# RLA-ResNet-50† (paper Table 3, B.2.2): the ResNet-D architecture (3x(3x3)
# deep stem, stride on the 3x3, 2x2 average-pool + 1x1 conv shortcuts) with
# RLA, trained with label smoothing 0.1, mixup alpha 0.2, 5 warm-up epochs and
# a cosine schedule over 200 epochs at lr 0.1, batch 256 (4 GPUs x 64). Paper:
# 20.25% top-1 error.
_base_ = [
    './_base_/models/rla_resnet50_in1k.py',
    'mmpretrain::_base_/datasets/imagenet_bs64.py',
    './_base_/schedules/rla_imagenet_bs256_tricks.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(type='RLAResNetV1d'),
    head=dict(
        loss=dict(
            _delete_=True,
            type='LabelSmoothLoss',
            label_smooth_val=0.1,
            mode='original',
            loss_weight=1.0)),
    # Mixup turns the labels into soft scores; LabelSmoothLoss smooths those.
    train_cfg=dict(augments=dict(type='Mixup', alpha=0.2)))
