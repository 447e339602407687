# `make demo-seg`: MMSegmentation's own PSPNet R18-D8 (ResNetV1c, output
# stride 8 by dilation) trained from scratch on digits composited on 48x48
# canvases (tools/data/make_digits_seg.py; 11 classes: background and the ten
# digits). Only what a CPU run needs changes: data, classes, the crop size,
# BN instead of SyncBN, no ImageNet initialisation, AdamW and a short
# schedule.
# pspnet_rla-r18-d8_digits.py is the same with the backbone type swapped.
_base_ = 'mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py'

data_root = 'data/digits_seg'
classes = ('background', 'zero', 'one', 'two', 'three', 'four', 'five', 'six',
           'seven', 'eight', 'nine')
palette = [[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25],
           [0, 130, 200], [245, 130, 48], [145, 30, 180], [70, 240, 240],
           [240, 50, 230], [210, 245, 60], [250, 190, 212]]
image_size = 48
max_iters = 600
norm_cfg = dict(type='BN', requires_grad=True)

# Digits cover about a tenth of the pixels: the background counts less in the
# loss, so that training from scratch leaves the all-background start sooner.
class_weight = [0.2] + [1.0] * 10
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=(image_size, image_size)),
    backbone=dict(norm_cfg=norm_cfg),
    decode_head=dict(
        num_classes=len(classes),
        norm_cfg=norm_cfg,
        loss_decode=dict(class_weight=class_weight)),
    auxiliary_head=dict(
        num_classes=len(classes),
        norm_cfg=norm_cfg,
        loss_decode=dict(class_weight=class_weight)))

# No flip or rescale: a mirrored digit is another shape, and every canvas has
# one size.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_pipeline = train_pipeline


def _split(name, pipeline):
    return dict(
        _delete_=True,
        type='BaseSegDataset',
        data_root=data_root,
        data_prefix=dict(
            img_path=f'img_dir/{name}', seg_map_path=f'ann_dir/{name}'),
        img_suffix='.png',
        seg_map_suffix='.png',
        metainfo=dict(classes=classes, palette=palette),
        pipeline=pipeline)


train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=_split('train', train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=_split('val', test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-3, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=50,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters // 4)
default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
# A fixed seed (weights, sampling, data order) makes the figures repeatable.
randomness = dict(seed=0)
