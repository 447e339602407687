# RLA-ResNet-50 on ImageNet, the paper's recipe (Sec. 4.2): SGD momentum 0.9,
# weight decay 1e-4, batch 256 (4 GPUs x 64), lr 0.1 divided by 10 every 30
# epochs, 120 epochs; random-resized crop 224 + flip, eval resize 256 + crop
# 224.
_base_ = [
    './_base_/models/rla_resnet50_in1k.py',
    'mmpretrain::_base_/datasets/imagenet_bs64.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]

train_cfg = dict(by_epoch=True, max_epochs=120, val_interval=1)
