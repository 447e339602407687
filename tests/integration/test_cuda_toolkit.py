""".dev_scripts/setup/cuda_toolkit.py: a CUDA toolkit for mmcv's CUDA ops
without a system install, and the device-code check that proves a build without
a GPU."""
import json
import os
import os.path as osp
import sys

import pytest
import torch
from rla_testkit import process
from rla_testkit.checkout import REPO_ROOT, load_script

cuda_toolkit = load_script('.dev_scripts/setup/cuda_toolkit.py')
ToolkitError = cuda_toolkit.ToolkitError
STACKS = cuda_toolkit.STACKS
SCRIPT = osp.join(REPO_ROOT, '.dev_scripts', 'setup', 'cuda_toolkit.py')
KERNEL = '__global__ void add_one(float *a) { a[threadIdx.x] += 1.f; }\n'


def write(path, text='', mode=0o644):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, mode)


def test_assemble_joins_runtime_and_compiler_packages(tmp_path):
    runtime, compiler = tmp_path / 'cu13', tmp_path / 'nvcc' / 'cu13'
    write(str(runtime / 'include' / 'cuda_runtime.h'), 'runtime')
    write(str(runtime / 'include' / 'shared.h'), 'from the runtime')
    write(str(runtime / 'lib' / 'libcudart.so.13'))
    write(str(compiler / 'bin' / 'nvcc'), mode=0o755)
    write(str(compiler / 'include' / 'shared.h'), 'from the compiler')
    write(str(compiler / 'nvvm' / 'bin' / 'cicc'), mode=0o755)
    home = cuda_toolkit.assemble(
        str(tmp_path / 'home'), [str(runtime), str(compiler)])
    for part in ('bin/nvcc', 'include/cuda_runtime.h', 'nvvm/bin/cicc',
                 'lib64/libcudart.so.13'):
        assert osp.isfile(osp.join(home, part)), part
    # the later root (the compiler packages) wins where both ship a file
    assert open(osp.join(home, 'include',
                         'shared.h')).read() == 'from the compiler'
    # the unversioned name that `-lcudart` links against
    assert os.readlink(osp.join(home, 'lib',
                                'libcudart.so')) == 'libcudart.so.13'
    # again, over the first: rebuilt, not added to
    os.remove(compiler / 'nvvm' / 'bin' / 'cicc')
    cuda_toolkit.assemble(home, [str(runtime), str(compiler)])
    assert not osp.lexists(osp.join(home, 'nvvm', 'bin', 'cicc'))


def test_assemble_names_what_is_missing(tmp_path):
    write(str(tmp_path / 'a' / 'lib' / 'libcudart.so.12'))
    with pytest.raises(ToolkitError, match='no bin/nvcc'):
        cuda_toolkit.assemble(str(tmp_path / 'home'), [str(tmp_path / 'a')])
    write(str(tmp_path / 'b' / 'bin' / 'nvcc'), mode=0o755)
    with pytest.raises(ToolkitError, match='no libcudart.so'):
        cuda_toolkit.assemble(str(tmp_path / 'home'), [str(tmp_path / 'b')])


@pytest.mark.subprocess
def test_nvcc_behind_a_wrapper_script_reports_its_installation(tmp_path):
    # /usr/local/bin/nvcc is often a script exec'ing the real one: its folder
    # is not the toolkit; nvcc's dry run says where it is
    real = tmp_path / 'cuda-13.0'
    write(
        str(real / 'bin' / 'nvcc'),
        f'#!/bin/sh\necho "#$ TOP={real}/bin/.."\n', 0o755)
    wrapper = tmp_path / 'local' / 'bin' / 'nvcc'
    write(str(wrapper), f'#!/bin/sh\nexec {real}/bin/nvcc "$@"\n', 0o755)
    assert cuda_toolkit.nvcc_top(str(wrapper)) == str(real)


def test_system_toolkit_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv('CUDA_HOME', str(tmp_path / 'nothing'))
    with pytest.raises(
            ToolkitError, match='CUDA_HOME=.*nothing has no bin/nvcc'):
        cuda_toolkit.system_toolkit()
    write(str(tmp_path / 'cuda' / 'bin' / 'nvcc'), mode=0o755)
    monkeypatch.setenv('CUDA_HOME', str(tmp_path / 'cuda'))
    assert cuda_toolkit.system_toolkit() == str(tmp_path / 'cuda')
    monkeypatch.delenv('CUDA_HOME')
    monkeypatch.setenv('PATH', str(tmp_path / 'empty'))
    assert cuda_toolkit.system_toolkit() == ''


def fake_python(tmp_path, cuda):
    """A 'python' whose torch reports CUDA ``cuda`` (None: a CPU build)."""
    path = tmp_path / 'python'
    facts = json.dumps(dict(cuda=cuda, site=str(tmp_path)))
    write(str(path), f"#!/bin/sh\necho '{facts}'\n", 0o755)
    return str(path)


@pytest.mark.subprocess
def test_cpu_torch_and_version_mismatch_are_refused(tmp_path, monkeypatch):
    with pytest.raises(ToolkitError, match='CPU build'):
        cuda_toolkit.toolkit_home(fake_python(tmp_path, None))
    write(
        str(tmp_path / 'cuda' / 'bin' / 'nvcc'),
        '#!/bin/sh\necho "Cuda compilation tools, release 12.4, V12.4.131"\n',
        0o755)
    monkeypatch.setenv('CUDA_HOME', str(tmp_path / 'cuda'))
    with pytest.raises(
            ToolkitError, match='is 12.4, torch is built with CUDA 13.0'):
        cuda_toolkit.toolkit_home(fake_python(tmp_path, '13.0'))
    with pytest.raises(Exception, match='CUDA 11.8; no stack'):
        cuda_toolkit.stack_for_cuda('11.8')


def test_stacks_with_a_registry_compiler_pin_one_for_their_cuda():
    with_compiler = [s for s in STACKS if s.toolkit]
    assert [s.name for s in with_compiler] == ['cu130']
    for stack in with_compiler:
        nvcc = [p for p in stack.toolkit if p.startswith('nvidia-cuda-nvcc')]
        assert len(nvcc) == 1, stack.name
        assert nvcc[0].split('==')[1].startswith(stack.cuda + '.'), (stack,
                                                                     nvcc)
        assert any(
            p.startswith('nvidia-cuda-cuobjdump') for p in stack.toolkit)


def test_arch_list_names():
    assert cuda_toolkit.arch_list_names('7.5;8.0 9.0+PTX;9.0a') == [
        'sm_75', 'sm_80', 'sm_90', 'sm_90a'
    ]
    with pytest.raises(ToolkitError, match="'sm_80' in TORCH_CUDA_ARCH_LIST"):
        cuda_toolkit.arch_list_names('7.5;sm_80')


def run_home():
    """``cuda_toolkit.py home`` where no system CUDA exists: nvcc is taken off
    PATH and CUDA_HOME unset (this machine may have its own)."""
    env = {k: v for k, v in os.environ.items() if k != 'CUDA_HOME'}
    env['PATH'] = '/usr/bin:/bin'
    return process.run([sys.executable, SCRIPT, 'home', sys.executable],
                       capture_output=True,
                       text=True,
                       env=env,
                       timeout=600)


@pytest.fixture(scope='module')
def registry_home():
    """The toolkit that FORCE_CUDA=1 assembles for this torch from the
    registry."""
    if torch.version.cuda is None:
        pytest.skip(
            'this torch is a CPU build; FORCE_CUDA=1 refuses it (tested above)'
        )
    if not cuda_toolkit.stack_for_cuda(torch.version.cuda).toolkit:
        pytest.skip(f'the registry has no CUDA {torch.version.cuda} compiler '
                    '(the refusal is tested above)')
    proc = run_home()
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


@pytest.mark.subprocess
def test_cuda12_stacks_say_where_to_get_a_compiler(tmp_path, monkeypatch):
    monkeypatch.delenv('CUDA_HOME', raising=False)
    monkeypatch.setenv('PATH', '/usr/bin:/bin')
    with pytest.raises(ToolkitError) as err:
        cuda_toolkit.toolkit_home(fake_python(tmp_path, '12.1'))
    assert 'hold ptxas but not nvcc' in str(err.value)
    assert 'download.openmmlab.com/mmcv/dist/cu121/torch2.1' in str(err.value)


@pytest.mark.subprocess
def test_registry_toolkit_compiles_for_each_listed_arch(
        registry_home, tmp_path):
    nvcc = osp.join(registry_home, 'bin', 'nvcc')
    assert cuda_toolkit.nvcc_release(nvcc) == torch.version.cuda
    # the headers of torch's runtime packages and of the compiler packages meet
    source = tmp_path / 'kernel.cu'
    source.write_text('#include <cuda_runtime.h>\n#include <cuda_fp16.h>\n' +
                      KERNEL)
    obj = str(tmp_path / 'kernel.o')
    process.run([
        nvcc, '-gencode', 'arch=compute_75,code=sm_75', '-gencode',
        'arch=compute_90,code=sm_90', '-c',
        str(source), '-o', obj
    ],
                check=True,
                env={
                    **os.environ, 'PATH': '/usr/bin:/bin'
                },
                timeout=300)

    def archs(*extra):
        return process.run(
            [sys.executable, SCRIPT, 'archs', registry_home, obj, *extra],
            capture_output=True,
            text=True,
            timeout=120)

    listed = archs()
    assert listed.returncode == 0 and listed.stdout.split() == [
        'sm_75', 'sm_90'
    ]
    assert archs('--expect', '7.5;9.0').returncode == 0
    missing = archs('--expect', '7.0;7.5;9.0')
    assert missing.returncode == 1
    assert 'has no device code for sm_70' in missing.stderr
