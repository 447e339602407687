"""What ``tools/analysis_tools/gpu_check.py`` checks, as pytest tests on a CUDA
device: the same check code (``rla_mm.testing.gpu_checks``), the same case
table (``rla_mm.testing.backbone_cases.FULL``). Without CUDA every test here is
skipped.

The backbone tests need only mmcv-lite; the detector, SyncBN and benchmark
tests need mmcv with its compiled ops and MMDetection.
"""
import os.path as osp

import pytest
import torch
from rla_testkit.checkout import REPO_ROOT

from rla_mm.testing import gpu_checks
from rla_mm.testing.backbone_cases import FULL, full_case_id

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason='needs a CUDA device')

TOOLS = osp.join(REPO_ROOT, 'tools')
CASES = [(name, case) for name, cases in sorted(FULL.items())
         for case in cases]


@pytest.fixture(scope='module')
def device():
    return torch.device('cuda')


@pytest.mark.parametrize(
    'name,case', CASES, ids=[full_case_id(n, c) for n, c in CASES])
def test_backbone_precisions_and_layout(name, case, device):
    cls = gpu_checks.registered_backbones()[name]
    detail = gpu_checks.check_backbone(cls, case, device)
    assert 'plain twin' in detail


@pytest.mark.parametrize(
    'config',
    ['faster_rcnn_rla_r50_fpn_1x_coco.py', 'mask_rcnn_rla_r50_fpn_1x_coco.py'])
@pytest.mark.subprocess
def test_detector_amp_iterations(config, tmp_path):
    assert gpu_checks.train_check(TOOLS, config,
                                  str(tmp_path)).startswith('four')


@pytest.mark.subprocess
def test_syncbn_step(tmp_path):
    assert 'SyncBN' in gpu_checks.syncbn_check(TOOLS, str(tmp_path))


@pytest.mark.subprocess
def test_benchmark_on_cuda(device):
    rows = gpu_checks.benchmark_check(TOOLS, device,
                                      ['--cases', 'cls', '--repeats', '2'])
    assert '| cls | inference (s) |' in rows
