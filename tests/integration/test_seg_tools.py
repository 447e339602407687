"""tools/ with MMSegmentation configs (the optional extra ``rla_mm[seg]``)."""
import os
import os.path as osp
import site
import sys

import pytest
import torch
from rla_testkit import process
from rla_testkit.checkout import REPO_ROOT

SEG_CONFIG = osp.join(
    REPO_ROOT, 'configs', 'dropin',
    'deeplabv3plus_rla-r50-d8_4xb2-40k_cityscapes-512x1024.py')


def tool(name):
    return osp.join(REPO_ROOT, 'tools', name)


@pytest.fixture(scope='module')
def without_mmseg(tmp_path_factory):
    """The environment of this Python less MMSegmentation: its site-packages
    as links, all but ``mmseg`` and its dist-info, on a ``python -S`` path
    (the other path entries, .pth files' included, as they are)."""
    folder = tmp_path_factory.mktemp('no_mmseg')
    packages = [p for p in site.getsitepackages() if osp.isdir(p)]
    linked = str(folder / 'site')
    os.makedirs(linked)
    for root in packages:
        for name in os.listdir(root):
            if name == 'mmseg' or name.startswith('mmsegmentation-'):
                continue
            target = osp.join(linked, name)
            if not osp.lexists(target):
                os.symlink(osp.join(root, name), target)
    path = []
    for entry in sys.path:
        entry = linked if entry in packages else entry
        if entry and entry not in path:
            path.append(entry)
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path))


def run_without_mmseg(env, *args):
    return process.run([sys.executable, '-S', *args],
                       cwd=REPO_ROOT,
                       env=env,
                       capture_output=True,
                       text=True,
                       timeout=300)


@pytest.mark.subprocess
def test_the_environment_lacks_only_mmsegmentation(without_mmseg):
    proc = run_without_mmseg(
        without_mmseg, '-c', 'import importlib.util as u; '
        'print(u.find_spec("mmseg"), u.find_spec("mmdet") is not None, '
        'u.find_spec("rla_mm") is not None)')
    assert proc.stdout.split() == ['None', 'True', 'True'], proc.stderr


@pytest.mark.subprocess
@pytest.mark.parametrize('command', ['train', 'test', 'get_flops'])
def test_tools_end_with_one_line_naming_the_extra(without_mmseg, tmp_path,
                                                  command):
    work = ['--work-dir', str(tmp_path / 'work')]
    if command == 'train':
        args = [tool('train.py'), SEG_CONFIG, *work]
    elif command == 'test':
        checkpoint = str(tmp_path / 'model.pth')
        torch.save(dict(state_dict={}), checkpoint)
        args = [tool('test.py'), SEG_CONFIG, checkpoint, *work]
    else:
        args = [tool('analysis_tools/get_flops.py'), SEG_CONFIG]
    proc = run_without_mmseg(without_mmseg, *args)
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (
        f'{SEG_CONFIG} is an MMSegmentation config, and MMSegmentation is '
        f'not installed in this Python ({sys.executable}): pip install '
        f"'rla_mm[seg]' (from a checkout of rla_mm: pip install '.[seg]')")
