"""rla_mm.configs: the one config lookup and the one "which library runs it"
rule that the tools and converters share; rla_mm.utils.libraries: which
optional library a config file needs."""
import os.path as osp

import pytest
from mmengine.config import Config
from rla_testkit.checkout import REPO_ROOT

from rla_mm.configs import (config_library, configs_dir, find_config,
                            get_config_path, is_detector_config)
from rla_mm.utils.libraries import config_libraries, missing_library


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


def test_a_segmentation_config_is_neither_detector_nor_classifier():
    cfg = dict(default_scope='mmseg')
    assert config_library(cfg) == 'mmseg' and not is_detector_config(cfg)
    assert config_library(dict(default_scope=None)) == 'mmdet'


DROPIN = osp.join(REPO_ROOT, 'configs', 'dropin')


def test_the_libraries_a_config_file_names_through_its_local_bases(tmp_path):
    seg = osp.join(DROPIN, 'upernet_rla-r50_4xb2-40k_cityscapes-512x1024.py')
    assert config_libraries(seg) == {'mmseg'}
    assert config_libraries(osp.join(DROPIN, 'atss_rla-r50_fpn_1x_coco.py')) \
        == {'mmdet'}
    # a local config inheriting that one, one folder away, and one that only
    # sets the scope
    (tmp_path / 'sub').mkdir()
    child = tmp_path / 'sub' / 'child.py'
    child.write_text(f"_base_ = ['{seg}']\nx = 1\n")
    grandchild = tmp_path / 'grandchild.py'
    grandchild.write_text("_base_ = './sub/child.py'\n")
    assert config_libraries(str(grandchild)) == {'mmseg'}
    scoped = tmp_path / 'scoped.py'
    scoped.write_text("default_scope = 'mmseg'\n")
    assert config_libraries(str(scoped)) == {'mmseg'}
    # installed here (make setup): nothing to say
    assert missing_library(str(grandchild)) is None
