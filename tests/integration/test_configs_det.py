"""The twelve COCO detector configs: recipe, model build, one train and predict
step."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from rla_testkit.checkout import REPO_ROOT

DETECTORS = ('faster_rcnn', 'mask_rcnn', 'retinanet')
BACKBONES = {
    'r50':
    dict(depth=50, eca=None, ckpt='rla_resnet50_in1k.pth'),
    'r101':
    dict(depth=101, eca=None, ckpt='rla_resnet101_in1k.pth'),
    'eca_r50':
    dict(depth=50, eca=(5, 5, 5, 7), ckpt='rla_eca_resnet50_in1k.pth'),
    'eca_r101':
    dict(depth=101, eca=(5, 5, 5, 7), ckpt='rla_eca_resnet101_in1k.pth'),
}
CONFIGS = [(det, bb) for det in DETECTORS for bb in BACKBONES]


def load(det, bb):
    name = f'{det}_rla_{bb}_fpn_1x_coco.py'
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', name))


@pytest.mark.parametrize('det,bb', CONFIGS)
def test_recipe(det, bb):
    cfg = load(det, bb)
    backbone = cfg.model.backbone
    expected = BACKBONES[bb]
    assert backbone.type == 'RLAResNet'
    assert backbone.depth == expected['depth']
    assert backbone.get('eca') == expected['eca']
    assert backbone.rla_channel == 32
    assert backbone.frozen_stages == 1 and backbone.norm_eval is True
    assert not backbone.get('cat_hidden', False)  # hidden state dropped
    assert backbone.init_cfg == dict(
        type='Pretrained',
        checkpoint=f'checkpoints/{expected["ckpt"]}',
        prefix='backbone.')
    assert cfg.model.neck.in_channels == [256, 512, 1024, 2048]
    assert cfg.custom_imports.imports == ['rla_mm']
    # 2 images x 4 GPUs = batch 8 at lr 0.01, SGD momentum 0.9, wd 1e-4
    assert cfg.train_dataloader.batch_size == 2
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum,
            optimizer.weight_decay) == ('SGD', 0.01, 0.9, 1e-4)
    assert cfg.auto_scale_lr.base_batch_size == 8
    assert cfg.train_cfg.max_epochs == 12
    step = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR'][0]
    assert step.milestones == [8, 11] and step.gamma == 0.1
    resize = [t for t in cfg.train_pipeline if t.type == 'Resize'][0]
    assert resize.scale == (1333, 800) and resize.keep_ratio
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    metrics = cfg.val_evaluator.metric
    assert metrics == (['bbox', 'segm'] if det == 'mask_rcnn' else 'bbox')


@pytest.mark.parametrize('det,bb', CONFIGS)
def test_model_trains_and_predicts(det, bb):
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    cfg = load(det, bb)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    # frozen stem and stage 1, RLA parts included
    assert not any(p.requires_grad for p in model.backbone.layer1.parameters())
    assert all(p.requires_grad for p in model.backbone.layer2.parameters())
    packed = demo_mm_inputs(
        2, [[3, 96, 128], [3, 96, 128]],
        num_items=[2, 3],
        num_classes=80,
        with_mask=det == 'mask_rcnn')
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(packed, False)
        results = model(**data, mode='predict')
    assert len(results) == 2
    assert results[0].pred_instances.bboxes.shape[-1] == 4
    if det == 'mask_rcnn':
        assert 'masks' in results[0].pred_instances


def test_mmdet_inference_apis_load_a_checkpoint_and_predict(tmp_path):
    # What a user runs after training: init_detector / inference_detector and
    # DetInferencer, straight from the config file
    # (custom_imports brings rla_mm), on an image whose sides are odd.
    import numpy as np
    from mmdet.apis import DetInferencer, inference_detector, init_detector
    config = osp.join(REPO_ROOT, 'configs', 'mask_rcnn_rla_r50_fpn_1x_coco.py')
    model = init_detector(
        config, device='cpu', cfg_options={'model.backbone.init_cfg': None})
    assert type(model.backbone).__name__ == 'RLAResNet'
    ckpt = str(tmp_path / 'mask_rcnn_rla.pth')
    torch.save(
        {
            'state_dict': model.state_dict(),
            'meta': {
                'dataset_meta': model.dataset_meta
            }
        }, ckpt)
    image = np.random.default_rng(0).integers(0, 255, (121, 97, 3), np.uint8)
    loaded = init_detector(config, ckpt, device='cpu')
    result = inference_detector(loaded, image)
    assert result.ori_shape == (121, 97)
    assert {'bboxes', 'scores', 'labels',
            'masks'} <= set(result.pred_instances.keys())
    assert torch.equal(loaded.backbone.layer1.conv_out.weight,
                       model.backbone.layer1.conv_out.weight)
    inferencer = DetInferencer(
        model=config, weights=ckpt, device='cpu', show_progress=False)
    out = inferencer(image, return_vis=True, no_save_pred=True)
    assert set(out['predictions'][0]) >= {'bboxes', 'scores', 'labels'}
    assert out['visualization'][0].shape == (121, 97, 3)
