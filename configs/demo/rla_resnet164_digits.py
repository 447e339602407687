# `make demo-cls`: RLA-ResNet-164 on scikit-learn's handwritten digits (1,797
# real scans upscaled to 32x32, tools/data/make_digits_cls.py), a CPU-sized run
# of the CIFAR recipe: Nesterov SGD momentum 0.9, weight decay 1e-4, pad-4
# random crop, model picked on the val split, tested on the held-out test
# split. For the small budget: batch 16, lr 0.05 with a short warm-up and
# cosine decay, 5 epochs. preact_resnet164_digits.py is the plain twin with the
# same recipe and budget.
_base_ = '../rla_resnet164_1xb128_cifar10.py'

data_root = 'data/digits_cls'
classes = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven',
           'eight', 'nine')
num_epochs = 5

data_preprocessor = dict(
    num_classes=10, mean=[127.5] * 3, std=[127.5] * 3, to_rgb=False)
# No flip: a mirrored digit is another shape.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]


def _split(name, pipeline):
    return dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        ann_file=f'meta/{name}.txt',
        metainfo=dict(classes=classes),
        pipeline=pipeline)


train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=_split('train', train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    dataset=_split('val', test_pipeline))
test_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    dataset=_split('test', test_pipeline))

optim_wrapper = dict(optimizer=dict(lr=0.05))
# lr 0.05 after a 30-iteration linear warm-up, cosine decay to 0 at the end.
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(
        type='CosineAnnealingLR',
        T_max=num_epochs,
        by_epoch=True,
        begin=0,
        end=num_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=num_epochs, val_interval=1)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=num_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)
