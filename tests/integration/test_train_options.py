"""tools/train.py options that change the config: --amp."""
import os.path as osp

import pytest
from rla_testkit.checkout import REPO_ROOT, load_tool

train = load_tool('train.py')
DEMO = osp.join(REPO_ROOT, 'configs', 'demo',
                'faster_rcnn_rla_r18_fpn_digits.py')


def build_cfg(*options):
    return train.build_cfg(train.parse_args([DEMO, '--amp', *options]))


def test_amp_switches_optim_wrapper_to_amp(monkeypatch):
    logged = []
    monkeypatch.setattr(train, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    cfg = build_cfg()
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert logged == []


def test_amp_leaves_an_amp_config_as_it_is_and_says_so(monkeypatch):
    logged = []
    monkeypatch.setattr(train, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    cfg = build_cfg('--cfg-options', 'optim_wrapper.type=AmpOptimWrapper',
                    'optim_wrapper.loss_scale=512.')
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 512.
    assert logged == ['--amp: the config already uses AmpOptimWrapper']


def test_amp_refuses_another_optim_wrapper():
    with pytest.raises(
            ValueError, match="optim_wrapper.type='ApexOptimWrapper'"):
        build_cfg('--cfg-options', 'optim_wrapper.type=ApexOptimWrapper')
