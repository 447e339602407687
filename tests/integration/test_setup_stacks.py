""".dev_scripts/setup/stacks.py: which PyTorch stack `make setup` installs
where."""
import os
import os.path as osp
import stat
import sys

import pytest
import torch
from rla_testkit import process
from rla_testkit.checkout import REPO_ROOT, load_script

SCRIPT = osp.join(REPO_ROOT, '.dev_scripts', 'setup', 'stacks.py')
stacks = load_script('.dev_scripts/setup/stacks.py')


def fake_nvidia_smi(folder, gpus, cuda):
    """An nvidia-smi that reports ``gpus`` [(name, 'major.minor')] and a driver
    of CUDA version ``cuda``."""
    rows = '\n'.join(f'{name}, {cap}' for name, cap in gpus)
    path = osp.join(folder, 'nvidia-smi')
    with open(path, 'w') as f:
        f.write('#!/bin/sh\n'
                'case "$1" in --query-gpu=*) printf "%s\\n" "$ROWS";; *) '
                'echo "| NVIDIA-SMI 570.86.15  Driver Version: 570.86.15  '
                'CUDA Version: $CUDA |";; esac\n')
    os.chmod(path, stat.S_IRWXU)
    return dict(PATH=f'{folder}:{os.environ["PATH"]}', ROWS=rows, CUDA=cuda)


def choose(tmp_path, gpus=None, cuda='13.0', **env):
    run_env = {k: v for k, v in os.environ.items() if k != 'STACK'}
    if gpus is not None:
        run_env.update(fake_nvidia_smi(str(tmp_path), gpus, cuda))
    else:  # no nvidia-smi on PATH (the script runs by its full path)
        run_env['PATH'] = str(tmp_path)
    run_env.update(env)
    return process.run([sys.executable, SCRIPT, 'choose'],
                       env=run_env,
                       capture_output=True,
                       text=True,
                       timeout=60)


@pytest.mark.parametrize(
    'gpus,cuda,expected',
    [
        (None, None, 'cu130'),  # no GPU: as today
        ([('NVIDIA H100 80GB HBM3', '9.0')] * 8, '13.0', 'cu130'),
        ([('NVIDIA A100-SXM4-40GB', '8.0')
          ], '12.4', 'cu128'),  # a CUDA 12 driver
        ([('Tesla V100-SXM2-32GB', '7.0')] * 4, '13.0',
         'cu128'),  # no sm_70 in cu130
        ([('Tesla V100', '7.0'), ('NVIDIA A100', '8.0'),
          ('NVIDIA H100', '9.0')], '12.2', 'cu128'),  # one stack for all three
        ([('Tesla P100-PCIE-16GB', '6.0')], '12.2', 'cu121'),
    ])
@pytest.mark.subprocess
def test_the_stack_follows_the_gpus_and_the_driver(tmp_path, gpus, cuda,
                                                   expected):
    proc = choose(tmp_path, gpus, cuda)
    assert proc.returncode == 0, proc.stderr
    name, *pins = proc.stdout.split()
    assert name == expected
    stack = stacks.by_name(expected)
    assert pins == stack.pins
    assert pins[0] == f'torch=={stack.torch}'


@pytest.mark.subprocess
def test_no_fitting_stack_names_what_is_missing(tmp_path):
    proc = choose(tmp_path, [('Tesla K80', '3.7')], '12.2')
    assert proc.returncode == 1
    assert 'no stack fits GPUs Tesla K80 (sm_37) with driver CUDA 12.2' in \
        proc.stderr
    assert 'cu121: kernels sm_50' in proc.stderr
    proc = choose(tmp_path, [('NVIDIA A100', '8.0')], '11.8')
    assert proc.returncode == 1
    assert 'driver CUDA 11.8' in proc.stderr and 'Update the driver' in \
        proc.stderr


@pytest.mark.subprocess
def test_stack_variable_overrides_the_choice(tmp_path):
    proc = choose(tmp_path, [('NVIDIA H100', '9.0')], '13.0', STACK='cu121')
    assert proc.stdout.split() == [
        'cu121', 'torch==2.1.2', 'torchvision==0.16.2'
    ]
    proc = choose(tmp_path, STACK='cu999')
    assert proc.returncode == 1
    assert ("STACK='cu999' is not a stack; expected one of "
            "['cu130', 'cu128', 'cu121']") in proc.stderr


def test_requirements_take_the_stacks_own_pins(tmp_path):
    reqs = tmp_path / 'reqs.txt'
    reqs.write_text('# comment\nnumpy==2.4.6\nopencv-python-headless==5.0.0.93'
                    '  # one OpenCV\nml_dtypes==0.6.0\nmmdet==3.3.0\n')
    cu121 = stacks.by_name('cu121')
    assert stacks.requirements(cu121, [str(reqs)]) == [
        'numpy==1.26.4', 'opencv-python-headless==4.10.0.84',
        'ml_dtypes==0.5.4', 'mmdet==3.3.0'
    ]
    # an environment as pip builds it for users: the OpenCV mmcv declares
    assert stacks.requirements(cu121, [str(reqs)], user_env=True)[1] == \
        'opencv-python==4.10.0.84'
    cu130 = stacks.by_name('cu130')
    assert stacks.requirements(cu130, [str(reqs)]) == [
        'numpy==2.4.6', 'opencv-python-headless==5.0.0.93', 'ml_dtypes==0.6.0',
        'mmdet==3.3.0'
    ]


@pytest.mark.subprocess
def test_mmpose_goes_into_the_numpy_1_stack_alone():
    """requirements/pose.txt (MMPose, whose xtcocotools wheel loads on numpy
    1.x only) is installed by the cu121 stack and no other."""
    for stack in stacks.STACKS:
        proc = process.run(
            [sys.executable, SCRIPT, 'stack-requirements', stack.name],
            capture_output=True,
            text=True,
            timeout=60)
        assert proc.returncode == 0, proc.stderr
        files = proc.stdout.split()
        assert files == list(stack.own_requirements)
        assert all(osp.isfile(osp.join(REPO_ROOT, f)) for f in files)
        assert ('requirements/pose.txt' in files) == \
            stack.numpy.startswith('1.'), stack.name
    assert stacks.by_name('cu121').own_requirements == \
        ('requirements/pose.txt', )


@pytest.mark.subprocess
def test_arch_list_for_the_cuda_build():
    out = process.run([sys.executable, SCRIPT, 'arch-list', 'cu128'],
                      capture_output=True,
                      text=True,
                      timeout=60).stdout.strip()
    assert out == '7.0;7.5;8.0;8.6;9.0;10.0;12.0'


def test_this_environment_matches_its_row():
    """The arch list read from the installed torch is the one its row
    claims."""
    version = torch.__version__.split('+')[0]
    rows = [s for s in stacks.STACKS if s.torch == version]
    assert rows, (f'torch {torch.__version__} is in no row of '
                  '.dev_scripts/setup/stacks.py')
    stack = rows[0]
    assert torch.version.cuda == stack.cuda
    assert torch._C._cuda_getArchFlags().split() == list(stack.archs)
    import numpy
    assert numpy.__version__ == stack.numpy


def test_environments_doc_holds_the_stack_table():
    with open(osp.join(REPO_ROOT, 'docs', 'environments.md')) as f:
        assert stacks.markdown() in f.read()


def test_disk_check_names_the_space_a_new_environment_needs(tmp_path):
    """Set-up refuses before pip starts when the venv's filesystem is too full,
    naming the free space and the need; the folder need not exist yet."""
    venv = tmp_path / 'not' / 'yet' / 'venv'
    cu130 = stacks.by_name('cu130')
    stacks.check_disk(cu130._replace(venv_gib=0.0), str(venv))
    with pytest.raises(stacks.NoStack) as err:
        stacks.check_disk(cu130._replace(venv_gib=1e9), str(venv))
    message = str(err.value)
    assert str(venv) in message and 'GiB free' in message
    assert f'{1e9 + stacks.INSTALL_MARGIN_GIB:.1f} GiB' in message
    assert not venv.parent.exists()  # it only looked


@pytest.mark.subprocess
def test_disk_command_rejects_an_unknown_stack(tmp_path):
    proc = process.run(
        [sys.executable, SCRIPT, 'disk', 'cu999',
         str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60)
    assert (proc.returncode == 1
            and "STACK='cu999' is not a stack" in proc.stderr)
