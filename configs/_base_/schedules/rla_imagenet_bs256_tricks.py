# The paper's † schedule (B.2.2): SGD momentum 0.9, weight decay 1e-4, batch
# 256, lr 0.1 with a linear warm-up over 5 epochs (per iteration), then cosine
# decay to 0 at epoch 200.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=195,
        eta_min=0.0,
        by_epoch=True,
        begin=5,
        end=200,
        convert_to_iter_based=True),
]

train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
