# RLA-Xception (the thin CIFAR Xception of Table 9, k = 12) on CIFAR-10.
# The paper's recipe (B.1): 45k/5k split, Nesterov SGD, 300 epochs.
# Paper test error: 5.78%.
_base_ = [
    './_base_/models/rla_xception_cifar.py',
    './_base_/datasets/cifar10_bs128_holdout.py',
    './_base_/schedules/cifar_bs128_300e.py',
    './_base_/cifar_runtime.py',
]
