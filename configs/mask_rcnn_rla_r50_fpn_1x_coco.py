# mask_rcnn with RLA-ResNet-50 + FPN, COCO 1x (paper Sec. 4.3, Table 4).
# Expects COCO under data/coco/ and checkpoints/rla_resnet50_in1k.pth.
_base_ = [
    './_base_/models/mask_rcnn_rla_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    './_base_/schedules/rla_det_schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]

# 2 images per GPU x 4 GPUs = batch 8 (tools/dist_train.sh CONFIG 4).
train_dataloader = dict(batch_size=2)
