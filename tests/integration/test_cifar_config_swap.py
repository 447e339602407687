"""MMPretrain's own CIFAR-10 ResNet-18 config with its backbone type swapped
for the RLA twin of ``ResNet_CIFAR``: it builds, and trains a step on
synthetic 32x32 images (no CIFAR download)."""
import os.path as osp

import mmpretrain
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

import rla_mm.models  # noqa: F401  (registers the twins)

CONFIG = osp.join(
    osp.dirname(mmpretrain.__file__), '.mim', 'configs', 'resnet',
    'resnet18_8xb16_cifar10.py')


def cifar_batch(num: int = 2) -> dict:
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    return dict(
        inputs=[
            torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
            for _ in range(num)
        ],
        data_samples=[DataSample().set_gt_label(i) for i in range(num)])


def test_rla_resnet_cifar_trains_a_step_in_mmpretrains_cifar_config():
    from mmpretrain.registry import MODELS
    from mmpretrain.utils import register_all_modules
    cfg = Config.fromfile(CONFIG)
    assert cfg.model.backbone.type == 'ResNet_CIFAR'
    cfg.model.backbone.type = 'RLAResNet_CIFAR'
    # what the Runner does with the config's data preprocessor
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    register_all_modules(init_default_scope=False)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
        backbone = model.backbone
        assert type(backbone).__name__ == 'RLAResNet_CIFAR'
        # the config relies on MMPretrain's defaults: the last stage out, a
        # 3x3 stride-1 stem of 64 channels and no max-pool, norms that train
        assert backbone.depth == 18 and backbone.out_indices == (3, )
        assert backbone.conv1.kernel_size == (3, 3)
        assert backbone.conv1.stride == (1, 1)
        assert backbone.stem_channels == 64 and not backbone.norm_eval
        assert not hasattr(backbone, 'maxpool')
        # the config's head reads the main path's 512 channels
        assert backbone.feat_dim == cfg.model.head.in_channels == 512
        model.init_weights()
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
        model.train()
        losses = model.train_step(cifar_batch(), optim)
        assert set(losses) == {'loss'} and torch.isfinite(losses['loss'])
        # a second step by hand, to read its gradients: every backbone
        # parameter gets one, the RLA parts included
        data = model.data_preprocessor(cifar_batch(), True)
        loss, _ = model.parse_losses(model(**data, mode='loss'))
        optim.backward(loss)
        grads = {n: p.grad for n, p in backbone.named_parameters()}
        assert [n for n, g in grads.items() if g is None] == []
        for part in ('.conv_out.', '.recurrent_conv.', '.norms.'):
            assert any(g.abs().max() > 0 for n, g in grads.items()
                       if part in n), part
        optim.step()
        model.eval()
        with torch.no_grad():
            preds = model.val_step(cifar_batch())
    assert len(preds) == 2
    assert preds[0].pred_score.shape == (10, )
