# The paper's COCO 1x schedule (Sec. 4.3 and Appendix B): SGD momentum 0.9,
# weight decay 1e-4, batch 8 (4 GPUs x 2 images) at lr 0.01, 12 epochs, lr / 10
# after epochs 8 and 11. With another batch size, pass --auto-scale-lr.
_base_ = 'mmdet::_base_/schedules/schedule_1x.py'

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
auto_scale_lr = dict(enable=False, base_batch_size=8)
