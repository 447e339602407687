# CIFAR-100 with the same 45k/5k split and augmentation as CIFAR-10.
_base_ = './cifar10_bs128_holdout.py'

data_preprocessor = dict(
    num_classes=100,
    mean=[129.304, 124.070, 112.434],
    std=[68.170, 65.392, 70.418])

train_dataloader = dict(
    dataset=dict(type='CIFAR100Holdout', data_root='data/cifar100'))
val_dataloader = dict(
    dataset=dict(type='CIFAR100Holdout', data_root='data/cifar100'))
test_dataloader = dict(
    dataset=dict(type='CIFAR100', data_root='data/cifar100'))
