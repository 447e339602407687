"""`make demo-seg`: the digits segmentation set and the two configs, RLA and
plain, with one recipe."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from rla_testkit.checkout import REPO_ROOT, load_tool

from rla_mm.utils import digit_canvases

DEMO = osp.join(REPO_ROOT, 'configs', 'demo')
PLAIN = osp.join(DEMO, 'pspnet_r18-d8_digits.py')
RLA = osp.join(DEMO, 'pspnet_rla-r18-d8_digits.py')
maker = load_tool('data/make_digits_seg.py')


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('digits_seg'))
    counts = maker.make_dataset(root, num_train=6, num_val=3, size=48, seed=1)
    assert counts == dict(train=6, val=3)
    return root


def test_label_maps_mark_the_visible_digits(digits):
    for split, n in (('train', 6), ('val', 3)):
        images = sorted(
            osp.join(digits, 'img_dir', split, f'{i:05d}.png')
            for i in range(n))
        for path in images:
            image = cv2.imread(path)
            label = cv2.imread(
                path.replace('img_dir', 'ann_dir'), cv2.IMREAD_UNCHANGED)
            assert image.shape == (48, 48, 3) and label.shape == (48, 48)
            assert label.dtype == np.uint8
            values = set(np.unique(label).tolist())
            # background and at least one digit, labels 1 + d
            assert 0 in values and values - {0} and max(values) <= 10
    # every output is a function of the seed
    again = maker.label_map
    rng = np.random.default_rng(0)
    from sklearn.datasets import load_digits
    scans = load_digits()
    image, objects = digit_canvases.render_canvas(rng, scans.images[:50],
                                                  scans.target[:50], 48)
    labels = again(objects, 48)
    for obj in objects:
        assert (labels[obj['mask']] == obj['label'] + 1).all()
    assert (labels[~np.any([o['mask'] for o in objects], axis=0)] == 0).all()


def test_the_set_is_the_same_for_a_seed_and_bad_arguments_are_named(
        tmp_path, digits):
    maker.make_dataset(str(tmp_path), num_train=6, num_val=3, size=48, seed=1)
    for rel in ('img_dir/train/00003.png', 'ann_dir/val/00002.png'):
        a = cv2.imread(osp.join(digits, rel), cv2.IMREAD_UNCHANGED)
        b = cv2.imread(str(tmp_path / rel), cv2.IMREAD_UNCHANGED)
        assert (a == b).all()
    with pytest.raises(ValueError, match='size must be >= 48 pixels, got 32'):
        maker.make_dataset(str(tmp_path), size=32)
    with pytest.raises(ValueError, match='num_val must be >= 1, got 0'):
        maker.make_dataset(str(tmp_path), num_val=0)


def test_the_rla_config_swaps_only_the_backbone_type():
    plain, rla = Config.fromfile(PLAIN), Config.fromfile(RLA)
    assert plain.model.backbone.type == 'ResNetV1c'
    assert rla.model.backbone.type == 'RLAResNetV1c'
    assert rla.custom_imports.imports == ['rla_mm']
    ours = rla.to_dict()
    ours.pop('custom_imports')
    ours['model']['backbone']['type'] = 'ResNetV1c'
    assert ours == plain.to_dict()  # same recipe and budget
    assert plain.classes == ('background', ) + digit_canvases.CLASSES
    assert plain.palette == maker.PALETTE
    assert plain.model.pretrained is None  # both train from scratch


def test_both_demo_models_train_a_step_and_predict_on_the_set(digits):
    from mmengine.runner import Runner
    for config in (PLAIN, RLA):
        cfg = Config.fromfile(config)
        for split in ('train', 'val', 'test'):
            cfg[f'{split}_dataloader'].dataset.data_root = digits
        cfg.work_dir = osp.join(digits, 'work', osp.basename(config))
        runner = Runner.from_cfg(cfg)
        data = next(iter(runner.train_dataloader))
        assert len(data['inputs']) == 8  # the infinite sampler repeats
        model = runner.model
        model.train()
        optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
        with DefaultScope.overwrite_default_scope('mmseg'):
            losses = model.train_step(data, optim_wrapper)
        assert all(torch.isfinite(v) for v in losses.values())
        model.eval()
        batch = next(iter(runner.val_dataloader))
        outputs = model.val_step(batch)
        assert outputs[0].pred_sem_seg.data.shape == (1, 48, 48)
        assert type(model.backbone).__name__ == cfg.model.backbone.type
