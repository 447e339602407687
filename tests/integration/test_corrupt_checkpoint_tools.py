"""tools/test.py and tools/train.py --resume name a truncated checkpoint in one
line, before they build anything."""
import os.path as osp
import sys

import pytest
import torch
from rla_testkit import process
from rla_testkit.checkout import REPO_ROOT

pytestmark = pytest.mark.subprocess

CONFIG = osp.join(REPO_ROOT, 'configs', 'demo', 'rla_resnet164_digits.py')


@pytest.fixture(scope='module')
def truncated(tmp_path_factory):
    folder = tmp_path_factory.mktemp('ckpt')
    whole = folder / 'epoch_1.pth'
    torch.save(
        dict(state_dict=dict(w=torch.randn(64, 64)), meta=dict(epoch=1)),
        whole)
    cut = folder / 'epoch_1_cut.pth'
    cut.write_bytes(whole.read_bytes()[:3000])
    return str(cut)


def run_tool(args, cwd):
    return process.run([sys.executable, *args],
                       cwd=cwd,
                       capture_output=True,
                       text=True,
                       timeout=300)


@pytest.mark.parametrize('tool', ['test', 'train'])
def test_truncated_checkpoint_ends_with_one_line_naming_it(
        tool, truncated, tmp_path):
    script = osp.join(REPO_ROOT, 'tools', f'{tool}.py')
    args = [script, CONFIG, truncated] if tool == 'test' else \
        [script, CONFIG, '--resume', truncated]
    proc = run_tool(args + ['--work-dir', str(tmp_path / 'work')], tmp_path)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('rla_mm.safe_loading.CorruptCheckpointError: '
                           f'checkpoint {truncated!r} is truncated'), last
    assert 'PytorchStreamReader' not in proc.stderr
    # It fails before the runner is built: no data is looked for.
    assert 'data/digits_cls' not in proc.stderr
