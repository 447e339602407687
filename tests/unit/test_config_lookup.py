"""rla_mm.configs: the one config lookup and the one "detector or classifier"
rule that the tools and converters share."""
import os.path as osp

import pytest
from mmengine.config import Config
from rla_testkit.checkout import REPO_ROOT

from rla_mm.configs import (configs_dir, find_config, get_config_path,
                            is_detector_config)


def test_a_config_is_found_by_path_or_by_name(tmp_path, monkeypatch):
    name = 'retinanet_rla_r50_fpn_1x_coco.py'
    by_name = find_config(name)
    assert by_name == get_config_path(name) == osp.join(configs_dir(), name)
    own = tmp_path / name  # a file of that name wins over rla_mm's config
    own.write_text('x = 1\n')
    assert find_config(str(own)) == str(own)
    monkeypatch.chdir(tmp_path)
    assert find_config(name) == name
    with pytest.raises(
            FileNotFoundError,
            match=r'config file not found: nope\.py \(neither a '
            r'file nor a config under .*configs\)'):
        find_config('nope.py')


@pytest.mark.parametrize('config,detector', [
    ('faster_rcnn_rla_r50_fpn_1x_coco.py', True),
    ('rla_resnet50_4xb64_in1k.py', False),
    ('rla_resnet164_1xb128_cifar10.py', False),
    ('demo/faster_rcnn_rla_r18_fpn_digits.py', True),
])
def test_the_default_scope_says_which_library_runs_a_config(config, detector):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    assert is_detector_config(cfg) is detector


def test_a_config_without_a_scope_is_a_detector():
    # MMDetection's tools run configs that name no scope
    assert is_detector_config(dict(model=dict(type='FasterRCNN')))
    assert not is_detector_config(dict(default_scope='mmpretrain'))
