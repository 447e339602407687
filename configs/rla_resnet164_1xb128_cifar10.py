# RLA-ResNet-164 (pre-activation bottlenecks, k = 12) on CIFAR-10.
# The paper's recipe (B.1): 45k/5k split, Nesterov SGD, 300 epochs.
# Paper test error: 4.95%.
_base_ = [
    './_base_/models/rla_preact_resnet164_cifar.py',
    './_base_/datasets/cifar10_bs128_holdout.py',
    './_base_/schedules/cifar_bs128_300e.py',
    './_base_/cifar_runtime.py',
]
