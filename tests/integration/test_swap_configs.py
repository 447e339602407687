"""The user's two-line swap, written in a config outside the repository, for
every RLA twin: it inherits the library's own config, changes the backbone
type, builds, and trains two optimiser steps, gradients reaching the RLA
parts."""
import textwrap

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

# (library, its config, our twin, extra backbone arguments)
SWAPS = [
    ('mmdet', 'retinanet/retinanet_r18_fpn_1x_coco.py', 'RLAResNet', {}),
    ('mmdet', 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', 'RLAResNetV1d',
     {}),
    ('mmdet', 'faster_rcnn/faster-rcnn_x101-32x4d_fpn_1x_coco.py',
     'RLAResNeXt', {}),
    ('mmpretrain', 'resnet/resnetv1c50_8xb32_in1k.py', 'RLAResNetV1c', {}),
    ('mmpretrain', 'seresnet/seresnet50_8xb32_in1k.py', 'RLASEResNet', {}),
    ('mmpretrain', 'resnext/resnext50-32x4d_8xb32_in1k.py', 'RLAResNeXt', {}),
    ('mmpretrain', 'seresnet/seresnext50-32x4d_8xb32_in1k.py', 'RLASEResNeXt',
     {}),
]


def inputs(library):
    torch.manual_seed(0)
    if library == 'mmdet':
        from mmdet.testing import demo_mm_inputs
        return demo_mm_inputs(2, [[3, 64, 64], [3, 64, 48]], num_classes=2)
    from mmpretrain.structures import DataSample
    return dict(
        inputs=[
            torch.randint(0, 256, (3, 48, 48), dtype=torch.uint8)
            for _ in range(2)
        ],
        data_samples=[DataSample().set_gt_label(1) for _ in range(2)])


@pytest.mark.parametrize(
    'library,config,twin,extra', SWAPS, ids=[f'{s[0]}-{s[2]}' for s in SWAPS])
def test_a_swapped_user_config_builds_and_trains_a_step(
        tmp_path, library, config, twin, extra):
    # the user's config, in their own project folder
    path = tmp_path / 'my_project' / 'my_config.py'
    path.parent.mkdir()
    path.write_text(
        textwrap.dedent(f"""\
        _base_ = '{library}::{config}'
        custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)
        model = dict(backbone=dict(type='{twin}', init_cfg=None))
        """))
    cfg = Config.fromfile(str(path))
    assert cfg.model.backbone.type == twin
    if library == 'mmdet':
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
    else:
        from mmpretrain.registry import MODELS
        from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(library):
        model = MODELS.build(cfg.model)
        assert type(model.backbone).__name__ == twin
        model.init_weights()
        optim = build_optim_wrapper(
            model, dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))
        model.train()
        losses = model.train_step(inputs(library), optim)
        # the second step by hand, to read its gradients: zero_init_residual
        # zeroes each branch's last norm, so the first step's gradient reaches
        # only those norms (and what follows the sums); from the second on it
        # reaches the branches and the RLA parts
        data = model.data_preprocessor(inputs(library), True)
        loss, _ = model.parse_losses(model(**data, mode='loss'))
        optim.backward(loss)
        grads = {
            n: p.grad
            for n, p in model.backbone.named_parameters() if p.requires_grad
        }
        optim.step()
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert [n for n, g in grads.items() if g is None] == []
    for part in ('conv_out', 'recurrent_conv', '.norms.'):
        assert any(g.abs().max() > 0 for n, g in grads.items() if part in n), \
            part
