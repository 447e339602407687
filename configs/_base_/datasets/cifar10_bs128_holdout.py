# CIFAR-10 as in the paper (Sec. 4.1, B.1): train on 45k training images, pick
# the model on the other 5k (the last 5k of the training split), report on the
# test set. Pad-4 random 32x32 crop and horizontal flip; batch 128 on one GPU.
data_preprocessor = dict(
    num_classes=10,
    mean=[125.307, 122.961, 113.8575],
    std=[51.5865, 50.847, 51.255],
    to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=128,
    num_workers=4,
    dataset=dict(
        type='CIFAR10Holdout',
        data_root='data/cifar10',
        part='train',
        num_holdout=5000,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
# the other 5k of the training split, at test time
val_dataloader = dict(
    train_dataloader,
    dataset=dict(
        train_dataloader['dataset'], part='val', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(
        type='CIFAR10',
        data_root='data/cifar10',
        split='test',
        pipeline=test_pipeline))
test_evaluator = val_evaluator
