# RLA-MobileNetV2 on ImageNet, the paper's recipe (Appendix B.2.1): SGD
# momentum 0.9, weight decay 4e-5, batch 96 (2 GPUs x 48), lr 0.045 multiplied
# by 0.98 every epoch, 400 epochs.
_base_ = [
    './_base_/models/rla_mobilenet_v2_in1k.py',
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_epochstep.py',
    'mmpretrain::_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=48)
val_dataloader = dict(batch_size=48)
test_dataloader = dict(batch_size=48)

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.045, momentum=0.9, weight_decay=4e-5))
param_scheduler = dict(type='StepLR', by_epoch=True, step_size=1, gamma=0.98)
train_cfg = dict(by_epoch=True, max_epochs=400, val_interval=1)
auto_scale_lr = dict(base_batch_size=96)
