# MMPretrain's runtime, keeping the checkpoint that is best on the 5k
# validation images: test that one (WORK_DIR/best_accuracy_top1_epoch_*.pth).
_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(
    imports=['rla_mm', 'rla_mm.datasets'], allow_failed_imports=False)
default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        interval=10,
        max_keep_ckpts=2,
        save_best='accuracy/top1',
        rule='greater'))
