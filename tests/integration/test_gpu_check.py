"""tools/analysis_tools/gpu_check.py on a machine without CUDA, and its checks
(rla_mm.testing.gpu_checks) run on the CPU."""
import os
import sys

import pytest
import torch
from rla_testkit import process
from rla_testkit.checkout import REPO_ROOT, load_tool

from rla_mm.testing import gpu_checks
from rla_mm.testing.backbone_cases import BACKBONES, FULL, FullCase

gpu_check = load_tool('analysis_tools/gpu_check.py')


@pytest.mark.subprocess
def test_without_cuda_it_says_it_skipped_and_exits_0():
    proc = process.run([sys.executable, 'tools/analysis_tools/gpu_check.py'],
                       cwd=REPO_ROOT,
                       env=dict(os.environ, CUDA_VISIBLE_DEVICES=''),
                       capture_output=True,
                       text=True,
                       timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'gpu_check: skipped: no CUDA device' in proc.stdout
    assert '[ok]' not in proc.stdout and 'FAILED' not in proc.stdout


def test_every_registered_backbone_has_a_case():
    names = set(gpu_checks.registered_backbones())
    assert names >= {
        'RLAResNet', 'RLAMobileNetV2', 'RLAPreActResNet', 'RLAXception'
    }
    assert names == set(FULL) == set(BACKBONES)
    assert all(FULL[n] for n in names)
    checks = gpu_checks.backbone_checks(torch.device('cpu'))
    assert len(checks) == sum(len(c) for c in FULL.values())
    assert len(
        gpu_checks.backbone_checks(torch.device('cpu'), ['RLAXception'])) \
        == len(FULL['RLAXception'])


def test_a_backbone_without_an_entry_is_a_failing_check(monkeypatch):
    monkeypatch.delitem(FULL, 'RLAXception')
    checks = dict(
        gpu_checks.backbone_checks(torch.device('cpu'), ['RLAXception']))
    with pytest.raises(AssertionError, match='no entry for RLAXception'):
        checks['backbone RLAXception']()


def test_the_twins_import_without_mmdetection():
    """The twins come from registries that mmcv-lite (no compiled ops) can
    fill, so the backbone checks run before mmcv's ops are built."""
    from mmengine.registry import MODELS
    for name, cases in FULL.items():
        for case in cases:
            assert case.twin.split('.')[0] in ('mmpretrain', 'rla_mm'), case
            assert MODELS.get(case.twin) is not None, case.twin


def test_side_replaces_every_cases_input_side(capsys):
    names = [
        n for n, _ in gpu_checks.backbone_checks(torch.device('cpu'), side=40)
    ]
    assert len(names) == sum(len(c) for c in FULL.values())
    assert all(n.endswith(' 40x40') for n in names), names
    with pytest.raises(SystemExit):
        gpu_check.parse_args(['--checks', 'backbones', '--side', '8'])
    assert '--side must be >= 16, got 8' in capsys.readouterr().err


def test_unknown_backbone_names_are_refused(capsys):
    with pytest.raises(SystemExit):
        gpu_check.parse_args(
            ['--checks', 'backbones', '--backbones', 'RLANope'])
    assert "unknown ['RLANope']" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown backbone.*RLANope"):
        gpu_checks.backbone_checks(torch.device('cpu'), ['RLANope'])


def test_a_failed_check_is_listed_and_the_exit_code_is_1(capsys, monkeypatch):

    def broken():
        raise AssertionError('outputs differ from fp32: fp16 3.0e-01 > 1e-02')

    monkeypatch.setattr(
        gpu_checks, 'backbone_checks',
        lambda device, only, side: [('backbone Good', lambda: 'fp16 1.0e-03'),
                                    ('backbone Broken', broken),
                                    ('backbone Crashing', lambda: 1 / 0)])
    assert gpu_check.main(['--device', 'cpu', '--checks', 'backbones']) == 1
    out = capsys.readouterr().out
    assert '[ok] backbone Good' in out
    assert '[FAILED] backbone Broken' in out and 'fp16 3.0e-01 > 1e-02' in out
    assert 'ZeroDivisionError' in out  # an unexpected error is a failure too
    assert out.rstrip().endswith('gpu_check: 1 passed, 2 failed\n'
                                 '  FAILED: backbone Broken\n'
                                 '  FAILED: backbone Crashing')


def test_cpu_runs_only_the_backbone_checks():
    with pytest.raises(SystemExit):
        gpu_check.parse_args(['--device', 'cpu'])


CPU = torch.device('cpu')


@pytest.mark.parametrize('name,case', [
    ('RLAResNet',
     FullCase(
         dict(depth=18, eca=True), 65, 'mmpretrain.ResNet',
         dict(depth=18, out_indices=(0, 1, 2, 3)))),
    ('RLAMobileNetV2',
     FullCase(
         dict(widen_factor=0.5), 65, 'mmpretrain.MobileNetV2',
         dict(widen_factor=0.5, out_indices=(7, )))),
    ('RLAPreActResNet',
     FullCase(
         dict(depth=20, rla_channel=4), 33, 'rla_mm.RLAPreActResNet',
         dict(depth=20, rla_channel=0, cat_hidden=False))),
])
def test_backbone_check_on_the_cpu(name, case):
    cls = gpu_checks.registered_backbones()[name]
    detail = gpu_checks.check_backbone(cls, case, CPU)
    ours, theirs = detail.split('; plain twin ')
    for part in ('fp16', 'bf16', 'channels_last'):
        assert part in ours and part in theirs


def test_backbone_check_fails_on_a_mismatch(monkeypatch):
    """No allowance at all makes any autocast difference a failure."""
    monkeypatch.setitem(gpu_checks.TOLERANCE, 'bf16', 0.0)
    monkeypatch.setattr(gpu_checks, 'TWIN_FACTOR', 0.0)
    cls = gpu_checks.registered_backbones()['RLAResNet']
    with pytest.raises(AssertionError, match='outputs differ from fp32: bf16'):
        gpu_checks.check_backbone(
            cls,
            FullCase(
                dict(depth=18), 64, 'mmpretrain.ResNet',
                dict(depth=18, out_indices=(0, 1, 2, 3))), CPU)


def test_measure_finds_non_finite_outputs():

    class Exploding(torch.nn.Module):

        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def init_weights(self):
            torch.nn.init.constant_(self.conv.weight, float('inf'))

        def forward(self, x):
            return (self.conv(x), )

    with pytest.raises(AssertionError, match='non-finite fp32 outputs'):
        gpu_checks.measure(Exploding, {}, 8, CPU)
