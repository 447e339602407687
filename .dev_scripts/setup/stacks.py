"""The PyTorch stacks that `make setup` can install, and which one fits this
machine.

A stack is a torch + torchvision pair from the package registry (plus the numpy
it needs), its CUDA runtime and the GPU architectures its kernels are built
for. `make setup` asks this script which stack to install:

* ``STACK=<name>`` chooses one by name;
* otherwise, with an NVIDIA GPU (``nvidia-smi``), the first stack in the table
  whose kernels cover every GPU's compute capability and whose CUDA runtime the
  driver can run;
* otherwise (no GPU) the first stack, the one this project is developed on.

The arch lists were read from the installed torch
(``torch._C._cuda_getArchFlags()``, no GPU needed);
tests/integration/test_setup_stacks.py checks the row of the environment it
runs in. Runs on any Python 3 without third-party packages.

Usage:
    python3 .dev_scripts/setup/stacks.py choose
        # prints: NAME PIN [PIN ...]
    python3 .dev_scripts/setup/stacks.py explain
        # why that stack
    python3 .dev_scripts/setup/stacks.py markdown
        # README's "Supported environments"
    python3 .dev_scripts/setup/stacks.py arch-list NAME
        # TORCH_CUDA_ARCH_LIST for NAME
    python3 .dev_scripts/setup/stacks.py disk NAME FOLDER
        # enough disk for a new venv?
    python3 .dev_scripts/setup/stacks.py requirements NAME [--user-env] FILE...
        # the files' pins with the stack's overrides (what setup installs)
    python3 .dev_scripts/setup/stacks.py stack-requirements NAME
        # the requirement files only NAME installs (relative to the checkout)
"""
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
from typing import List, NamedTuple, Optional, Sequence, Tuple


class Stack(NamedTuple):
    name: str
    torch: str
    torchvision: str
    overrides: Tuple[str, ...]  # pins that replace requirements/*.txt's
    cuda: str  # the CUDA runtime torch is built with
    min_driver_cuda: Tuple[int,
                           int]  # the oldest driver CUDA version it runs on
    archs: Tuple[str, ...]
    ran: str  # what was run on it
    # registry packages that make a CUDA toolkit matching `cuda` (nvcc and what
    # it reads), for building mmcv's CUDA ops without a system toolkit
    # (.dev_scripts/setup/cuda_toolkit.py); cuobjdump lists the device code
    # built. None for CUDA 12: the registry's nvidia-cuda-nvcc-cu12 wheels
    # (12.1 to 12.9) hold ptxas but not the nvcc driver, so CUDA 12 builds need
    # a system toolkit
    toolkit: Tuple[str, ...] = ()
    # disk a complete environment of this stack takes (`du -s` of the venv
    # after `make setup`), checked before a new environment is installed
    venv_gib: float = 7.5
    # requirement files that only this stack installs, after the common ones
    # and before rla_mm (`stacks.py stack-requirements NAME`)
    own_requirements: Tuple[str, ...] = ()

    @property
    def pins(self) -> List[str]:
        return [f'torch=={self.torch}', f'torchvision=={self.torchvision}']

    @property
    def numpy(self) -> str:
        for pin in self.overrides:
            if pin.startswith('numpy=='):
                return pin.split('==')[1]
        return deps_numpy()

    @property
    def capabilities(self) -> Tuple[Tuple[int, int], ...]:
        return tuple((int(a[3:-1]), int(a[-1])) for a in self.archs)


# Preference order. A CUDA 12 wheel runs on any CUDA 12 driver (>= 525) through
# CUDA's minor-version compatibility; a CUDA 13 wheel needs a 13.x driver
# (>= 580).
STACKS = (
    Stack(
        'cu130',
        '2.14.1',
        '0.29.1',
        (),
        '13.0',
        (13, 0),
        ('sm_75', 'sm_80', 'sm_86', 'sm_90', 'sm_100', 'sm_120'),
        'the whole suite, `make demo`, `make demo-cls` (CPU)',
        (
            'nvidia-cuda-nvcc==13.0.88',
            'nvidia-nvvm==13.0.88',
            'nvidia-cuda-crt==13.0.88',
            'nvidia-cuda-cccl==13.0.85',
            # the oldest cuobjdump on the registry; it reads older fatbins
            'nvidia-cuda-cuobjdump==13.2.86'),
        venv_gib=6.3),
    Stack(
        'cu128',
        '2.10.0',
        '0.25.0', (),
        '12.8', (12, 0),
        ('sm_70', 'sm_75', 'sm_80', 'sm_86', 'sm_90', 'sm_100', 'sm_120'),
        '`STACK=cu128 make setup` (mmcv 2.1.0 with CPU ops built for torch '
        '2.10) and the whole suite (CPU): 588 passed, 1 skipped (no CUDA 12 '
        'nvcc on the registry to build with); chosen for V100 (sm_70) and '
        'CUDA 12 drivers',
        venv_gib=7.8),
    # torch 2.1 is built against numpy 1.x; so are the OpenCV and ml_dtypes of
    # its time (the newest ones require numpy >= 2). MMPose goes in here alone:
    # the cp311 wheel of xtcocotools, which its datasets and metrics import, is
    # built against numpy 1.x and does not load on numpy 2 (docs/dropin.md)
    Stack(
        'cu121',
        '2.1.2',
        '0.16.2', ('numpy==1.26.4', 'opencv-python==4.10.0.84',
                   'opencv-python-headless==4.10.0.84', 'ml_dtypes==0.5.4'),
        '12.1', (12, 0),
        ('sm_50', 'sm_60', 'sm_70', 'sm_75', 'sm_80', 'sm_86', 'sm_90'),
        '`make test-compat` (CPU, in CI), an existing OpenMMLab environment: '
        'rla_mm installs changing nothing; the whole suite passes, the README '
        'commands among them (1 test skipped: the registry has no CUDA 12 '
        'nvcc to build with)',
        venv_gib=5.6,
        own_requirements=('requirements/pose.txt', )),
)
# what pip needs beside the venv while it installs
# (unpacked wheels, build folders)
INSTALL_MARGIN_GIB = 1.0
PYTHON = '3.11'
DEPS = osp.join(
    osp.dirname(osp.abspath(__file__)), '..', '..', 'requirements', 'deps.txt')


def deps_numpy() -> str:
    """The numpy that requirements/deps.txt pins (stacks without their own)."""
    with open(DEPS) as f:
        return re.search(r'^numpy==(\S+)$', f.read(), re.M).group(1)


class NoStack(Exception):
    """No stack fits; the message says what is missing."""


def by_name(name: str) -> Stack:
    for stack in STACKS:
        if stack.name == name:
            return stack
    raise NoStack(f'STACK={name!r} is not a stack; expected one of '
                  f'{[s.name for s in STACKS]}')


def query_gpus(
) -> Optional[Tuple[List[Tuple[str, Tuple[int, int]]], Tuple[int, int]]]:
    """(GPU name and compute capability of each GPU, driver CUDA version) from
    nvidia-smi, or None when there is no nvidia-smi or no GPU."""
    smi = shutil.which('nvidia-smi')
    if smi is None:
        return None
    query = subprocess.run(
        [smi, '--query-gpu=name,compute_cap', '--format=csv,noheader'],
        capture_output=True,
        text=True)
    if query.returncode != 0 or not query.stdout.strip():
        return None
    gpus = []
    for line in query.stdout.strip().splitlines():
        name, cap = (part.strip() for part in line.rsplit(',', 1))
        major, minor = cap.split('.')
        gpus.append((name, (int(major), int(minor))))
    header = subprocess.run([smi], capture_output=True, text=True).stdout
    found = re.search(r'CUDA Version:\s*(\d+)\.(\d+)', header)
    if not found:
        raise NoStack('nvidia-smi lists GPUs but prints no "CUDA Version"; '
                      'set STACK to one of ' + ', '.join(s.name
                                                         for s in STACKS))
    return gpus, (int(found.group(1)), int(found.group(2)))


def choose(env_stack: Optional[str] = None, gpus=None) -> Tuple[Stack, str]:
    """The stack to install and why.

    Args:
        env_stack (str, optional): The STACK variable.
        gpus: What :func:`query_gpus` returns.
    """
    if env_stack:
        return by_name(env_stack), f'STACK={env_stack}'
    if gpus is None:
        return STACKS[0], 'no NVIDIA GPU found (nvidia-smi)'
    devices, driver = gpus
    caps = sorted({cap for _, cap in devices})
    names = ', '.join(f'{name} (sm_{c[0]}{c[1]})' for name, c in devices)
    for stack in STACKS:
        if set(caps) <= set(
                stack.capabilities) and driver >= stack.min_driver_cuda:
            return stack, (
                f'GPUs {names}, driver CUDA {driver[0]}.{driver[1]}: '
                f'the first stack with kernels for them that this '
                'driver runs')
    rows = '; '.join(
        f'{s.name}: kernels {" ".join(s.archs)}, needs driver CUDA >= '
        f'{s.min_driver_cuda[0]}.{s.min_driver_cuda[1]}' for s in STACKS)
    raise NoStack(
        f'no stack fits GPUs {names} with driver CUDA '
        f'{driver[0]}.{driver[1]}. Stacks: {rows}. Update the driver, '
        'or install torch yourself and `pip install -e .` into that '
        'environment')


def requirements(stack: Stack,
                 files: Sequence[str],
                 user_env: bool = False) -> List[str]:
    """The requirement lines of ``files`` for ``stack``: its overrides replace
    the pins of the same packages; ``user_env`` swaps the headless OpenCV for
    ``opencv-python``, which mmcv and mmengine declare (an environment as pip
    builds it for a user)."""

    def name(pin: str) -> str:
        return re.split(r'[=<>!~ ;]', pin, 1)[0].lower().replace('_', '-')

    overrides = {name(p): p for p in stack.overrides}
    lines = []
    for path in files:
        with open(path) as f:
            for line in f:
                line = line.split('#', 1)[0].strip()
                if not line:
                    continue
                if user_env and name(line) == 'opencv-python-headless':
                    line = line.replace('opencv-python-headless',
                                        'opencv-python')
                lines.append(overrides.get(name(line), line))
    return lines


def check_disk(stack: Stack, folder: str) -> None:
    """Raise :class:`NoStack` when the filesystem that will hold ``folder``
    (the venv) has too little space for a new environment of ``stack``."""
    probe = osp.abspath(folder)
    while not osp.exists(probe):
        probe = osp.dirname(probe)
    free = shutil.disk_usage(probe).free / 2**30
    need = stack.venv_gib + INSTALL_MARGIN_GIB
    if free < need:
        raise NoStack(
            f'{folder!r} is on a filesystem with {free:.1f} GiB free; a new '
            f'{stack.name} environment needs about {need:.1f} GiB '
            f'({stack.venv_gib} GiB of venv + {INSTALL_MARGIN_GIB} GiB while '
            'pip installs). Free some space, or set VENV to a folder on '
            'another filesystem')


def markdown() -> str:
    rows = [
        '| stack | torch | torchvision | CUDA | kernels (arch list) | Python '
        '| numpy | run on it |', '|---|---|---|---|---|---|---|---|'
    ]
    for s in STACKS:
        rows.append(
            f'| `{s.name}` | {s.torch} | {s.torchvision} | {s.cuda} '
            f'(driver CUDA >= {s.min_driver_cuda[0]}.'
            f'{s.min_driver_cuda[1]}) | {" ".join(s.archs)} | {PYTHON} '
            f'| {s.numpy} | {s.ran} |')
    return '\n'.join(rows) + '\n'


def main(argv: Sequence[str]) -> int:
    command = argv[0] if argv else 'choose'
    try:
        if command == 'markdown':
            print(markdown(), end='')
            return 0
        if command == 'requirements':  # requirements NAME [--user-env] FILE...
            files = [a for a in argv[2:] if a != '--user-env']
            print('\n'.join(
                requirements(by_name(argv[1]), files, '--user-env' in argv)))
            return 0
        if command == 'stack-requirements':  # stack-requirements NAME
            print(' '.join(by_name(argv[1]).own_requirements))
            return 0
        if command == 'arch-list':
            stack = by_name(argv[1])
            print(';'.join(f'{a[3:-1]}.{a[-1]}' for a in stack.archs))
            return 0
        if command == 'disk':  # disk NAME FOLDER
            check_disk(by_name(argv[1]), argv[2])
            return 0
        if command not in ('choose', 'explain'):
            raise NoStack(f'unknown command {command!r}; expected choose, '
                          'explain, markdown, arch-list, requirements, '
                          'stack-requirements or disk')
        stack, why = choose(os.environ.get('STACK'), query_gpus())
    except NoStack as err:
        print(f'[setup] {err}', file=sys.stderr)
        return 1
    if command == 'explain':
        print(f'stack {stack.name} (torch {stack.torch}, CUDA {stack.cuda}): '
              f'{why}')
    else:
        print(' '.join([stack.name] + stack.pins))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
