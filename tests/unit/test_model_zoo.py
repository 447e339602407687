"""rla_mm's metafile in MMPretrain's model hub (from a wheel: test_mim.py)."""
import os.path as osp

import numpy as np
import pytest
import torch
import yaml
from rla_testkit.checkout import REPO_ROOT

import rla_mm
from rla_mm.configs import CLS_METAFILE, configs_dir, load_metafile


def metafile_names():
    with open(osp.join(REPO_ROOT, 'configs', CLS_METAFILE)) as f:
        return [m['Name'] for m in yaml.safe_load(f)['Models']]


def test_register_adds_every_metafile_model_once():
    from mmpretrain import list_models
    from mmpretrain.apis.model import ModelHub
    names = rla_mm.register_model_zoo()
    assert names == metafile_names() and len(names) == 22
    assert rla_mm.register_model_zoo() == names  # a second call is a no-op
    listed = list_models()
    assert set(names) <= set(listed)
    assert 'resnet50_8xb32_in1k' in listed  # MMPretrain's own still register
    assert list_models('rla_resnet164') == [
        'rla_resnet164_1xb128_cifar10', 'rla_resnet164_1xb128_cifar100'
    ]
    for name in names:
        # the installed package's configs: the checkout's (editable install) or
        # the copies a wheel carries (pip install ., the compat environment)
        config = ModelHub.get(name).config
        assert osp.samefile(config.filename,
                            osp.join(configs_dir(), name + '.py'))
        with open(config.filename) as got, \
                open(osp.join(REPO_ROOT, 'configs', name + '.py')) as source:
            assert got.read() == source.read(), name


def test_get_model_by_name_loads_a_checkpoint_and_infers(tmp_path):
    from mmpretrain import get_model, inference_model
    rla_mm.register_model_zoo()
    model = get_model('rla_resnet110_1xb128_cifar10')
    assert sum(p.numel() for p in model.parameters()) == load_metafile(
    )['rla_resnet110_1xb128_cifar10.py']['Metadata']['Parameters']
    with torch.no_grad():  # non-trivial BN statistics survive the round trip
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
    ckpt = str(tmp_path / 'rla_resnet110.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    loaded = get_model('rla_resnet110_1xb128_cifar10', pretrained=ckpt)
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    assert torch.equal(model(x, mode='tensor'), loaded(x, mode='tensor'))
    image = np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)
    result = inference_model(loaded, image)
    classes = loaded._dataset_meta['classes']  # from the config's CIFAR10
    assert len(classes) == 10 and result['pred_class'] in classes
    assert result['pred_scores'].shape == (10, )


def test_unknown_name_is_refused_by_mmpretrain():
    from mmpretrain import get_model
    rla_mm.register_model_zoo()
    with pytest.raises(ValueError, match='rla_resnet999'):
        get_model('rla_resnet999_1xb128_cifar10')
