"""A CUDA toolkit for building mmcv's CUDA ops, without a system CUDA install.

torch's wheels bring the CUDA runtime libraries and headers (the ``nvidia-*``
packages beside torch) but no compiler. The package registry also serves
NVIDIA's compiler packages (nvcc, NVVM, the CRT headers, CCCL, cuobjdump). This
script puts the two together into one folder laid out like a CUDA installation
(``bin/``, ``include/``, ``lib/``, ``lib64/``, ``nvvm/``), made of symbolic
links, cached per stack, and prints it for ``CUDA_HOME``:

* ``CUDA_HOME`` already set to a toolkit with ``bin/nvcc``: that one is used;
* otherwise ``nvcc`` on ``PATH``: its installation is used;
* otherwise the compiler packages of the stack whose CUDA version torch was
  built with (``.dev_scripts/setup/stacks.py``) are installed into
  ``$RLA_MM_CACHE/cuda/<stack>/packages`` and joined with torch's runtime
  packages.

It also lists the GPU architectures an extension holds device code for
(``cuobjdump --list-elf``), which is how a CUDA build is checked on a machine
without a GPU.

Usage:
    python3 .dev_scripts/setup/cuda_toolkit.py home PYTHON
        # prints the CUDA_HOME to build with for PYTHON's torch
    python3 .dev_scripts/setup/cuda_toolkit.py archs CUDA_HOME FILE
        [--expect LIST]
        # prints the sm_XX device code in FILE (an .so or a wheel); with
        # --expect (a TORCH_CUDA_ARCH_LIST such as "7.5;8.0"), exits 1 naming
        # every listed arch without device code
"""
import glob
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from typing import Dict, List, Sequence

from stacks import STACKS, NoStack, Stack

# The parts of a CUDA installation that building an extension reads.
TOOLKIT_DIRS = ('bin', 'include', 'lib', 'nvvm')


class ToolkitError(Exception):
    """The toolkit cannot be found or assembled; the message says why."""


def cache_root() -> str:
    return os.environ.get('RLA_MM_CACHE') or osp.join(
        os.environ.get('XDG_CACHE_HOME') or osp.expanduser('~/.cache'),
        'rla_mm')


def torch_facts(python: str) -> Dict[str, str]:
    """torch's CUDA version and the site-packages folder it lives in."""
    code = ('import json, os, torch; '
            'print(json.dumps({"cuda": torch.version.cuda, '
            '"site": os.path.dirname(os.path.dirname(torch.__file__))}))')
    out = subprocess.run([python, '-c', code],
                         check=True,
                         capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def stack_for_cuda(cuda: str) -> Stack:
    for stack in STACKS:
        if stack.cuda == cuda:
            return stack
    raise NoStack(
        f'torch is built with CUDA {cuda}; no stack in '
        f'.dev_scripts/setup/stacks.py has that CUDA version (stacks: '
        f'{", ".join(f"{s.name} = CUDA {s.cuda}" for s in STACKS)})')


def nvcc_release(nvcc: str) -> str:
    out = subprocess.run([nvcc, '--version'],
                         check=True,
                         capture_output=True,
                         text=True).stdout
    found = re.search(r'release (\d+\.\d+)', out)
    if not found:
        raise ToolkitError(
            f'cannot read the CUDA release from `{nvcc} --version`:\n'
            f'{out}')
    return found.group(1)


def nvcc_top(nvcc: str) -> str:
    """The installation ``nvcc`` belongs to, as nvcc itself reports it.

    ``nvcc`` on PATH may be a wrapper script (``/usr/local/bin/nvcc`` that
    execs the real one), so its own folder says nothing; its dry run prints
    ``TOP=``.
    """
    run = subprocess.run(
        [nvcc, '--dryrun', '-x', 'cu', '-c', os.devnull, '-o', os.devnull],
        capture_output=True,
        text=True)
    found = re.search(r'^#\$ TOP=(.+)$', run.stdout + run.stderr, re.M)
    if not found:
        raise ToolkitError(
            f'`{nvcc} --dryrun` does not say where its toolkit is:\n'
            f'{(run.stdout + run.stderr)[-2000:]}')
    return osp.realpath(found.group(1).strip())


def system_toolkit() -> str:
    """The toolkit the user already has (``CUDA_HOME`` or ``nvcc`` on PATH), or
    ''."""
    home = os.environ.get('CUDA_HOME')
    if home:
        if not osp.isfile(osp.join(home, 'bin', 'nvcc')):
            raise ToolkitError(
                f'CUDA_HOME={home} has no bin/nvcc; unset it to build '
                'with the registry toolkit, or point it at a CUDA '
                'installation')
        return home
    nvcc = shutil.which('nvcc')
    return nvcc_top(nvcc) if nvcc else ''


def nvidia_roots(site_packages: str) -> List[str]:
    """The ``nvidia/<package>`` folders under ``site_packages`` that hold
    toolkit parts."""
    base = osp.join(site_packages, 'nvidia')
    if not osp.isdir(base):
        return []
    return [
        osp.join(base, name) for name in sorted(os.listdir(base)) if any(
            osp.isdir(osp.join(base, name, d)) for d in TOOLKIT_DIRS)
    ]


def link_tree(src: str, dst: str) -> None:
    """Mirror ``src`` under ``dst`` with one symbolic link per file
    (later wins)."""
    for dirpath, _, filenames in os.walk(src):
        target = osp.join(dst, osp.relpath(dirpath, src))
        os.makedirs(target, exist_ok=True)
        for name in filenames:
            link = osp.join(target, name)
            if osp.lexists(link):
                os.remove(link)
            os.symlink(osp.join(dirpath, name), link)


def assemble(home: str, roots: Sequence[str]) -> str:
    """Join the ``roots`` into one CUDA installation at ``home``; return
    ``home``.

    The runtime comes first, the compiler packages after (their files win where
    both ship one). ``lib64`` points at ``lib`` and ``libcudart.so`` at the
    versioned runtime, the names torch's extension builder links against.
    """
    if osp.isdir(home):
        shutil.rmtree(home)
    for root in roots:
        for part in TOOLKIT_DIRS:
            if osp.isdir(osp.join(root, part)):
                link_tree(osp.join(root, part), osp.join(home, part))
    lib = osp.join(home, 'lib')
    if not osp.isfile(osp.join(home, 'bin', 'nvcc')):
        raise ToolkitError(f'no bin/nvcc in any of {list(roots)}')
    cudart = sorted(
        n for n in os.listdir(lib)
        if re.fullmatch(r'libcudart\.so\.\d+', n)) if osp.isdir(lib) else []
    if not cudart:
        raise ToolkitError(
            f'no libcudart.so.<N> in the lib folders of {list(roots)}')
    if not osp.lexists(osp.join(lib, 'libcudart.so')):
        os.symlink(cudart[-1], osp.join(lib, 'libcudart.so'))
    os.symlink('lib', osp.join(home, 'lib64'))
    return home


def registry_toolkit(python: str, facts: Dict[str, str]) -> str:
    """Install the stack's compiler packages and assemble a CUDA_HOME from
    them."""
    stack = stack_for_cuda(facts['cuda'])
    if not stack.toolkit:
        hint = ''
        if stack.torch.startswith('2.1.'):
            hint = (
                ' For torch 2.1, OpenMMLab publishes mmcv 2.1.0 wheels with '
                'CUDA ops: pip install mmcv==2.1.0 -f '
                'https://download.openmmlab.com/mmcv/dist/'
                f'cu{stack.cuda.replace(".", "")}/torch2.1/index.html')
        raise ToolkitError(
            'no nvcc found (CUDA_HOME unset, none on PATH), and the package '
            f'registry has no CUDA {stack.cuda} compiler for stack '
            f'{stack.name}: its nvidia-cuda-nvcc-cu12 wheels hold ptxas but '
            f'not nvcc. Install the CUDA {stack.cuda} toolkit and set '
            f'CUDA_HOME.{hint}')
    folder = osp.join(cache_root(), 'cuda', stack.name)
    packages = osp.join(folder, 'packages')
    stamp = osp.join(packages, '.installed')
    wanted = '\n'.join(stack.toolkit)
    installed = ''
    if osp.isfile(stamp):
        with open(stamp) as f:
            installed = f.read()
    if installed != wanted:
        print(
            f'[setup] CUDA {stack.cuda} compiler from the package registry: '
            f'{" ".join(stack.toolkit)}',
            file=sys.stderr)
        if osp.isdir(packages):
            shutil.rmtree(packages)
        subprocess.run([
            python, '-m', 'pip', 'install', '--quiet',
            '--disable-pip-version-check', '--no-deps', '--target', packages,
            *stack.toolkit
        ],
                       check=True)
        with open(stamp, 'w') as f:
            f.write(wanted)
    home = assemble(
        osp.join(folder, 'home'),
        nvidia_roots(facts['site']) + nvidia_roots(packages))
    release = nvcc_release(osp.join(home, 'bin', 'nvcc'))
    if release != stack.cuda:
        raise ToolkitError(f'nvcc in {home} is CUDA {release}; torch needs '
                           f'{stack.cuda}')
    return home


def toolkit_home(python: str) -> str:
    facts = torch_facts(python)
    if not facts['cuda']:
        raise ToolkitError(
            f'the torch of {python} is a CPU build (torch.version.cuda '
            'is None): install a CUDA stack before FORCE_CUDA=1')
    home = system_toolkit()
    if not home:
        return registry_toolkit(python, facts)
    release = nvcc_release(osp.join(home, 'bin', 'nvcc'))
    if release.split('.')[0] != facts['cuda'].split('.')[0]:
        raise ToolkitError(
            f'the CUDA toolkit in {home} is {release}, torch is built '
            f'with CUDA {facts["cuda"]}: their major versions must match '
            '(unset CUDA_HOME and take nvcc off PATH to build with the '
            'registry toolkit for this torch)')
    print(
        f'[setup] using the CUDA {release} toolkit in {home}', file=sys.stderr)
    return home


def find_cuobjdump(cuda_home: str, python: str) -> str:
    """``cuda_home``'s cuobjdump, else one on PATH, else the registry's
    (cached).

    A toolkit put together from packages may lack it
    (it is a package of its own).
    """
    for candidate in (osp.join(cuda_home, 'bin',
                               'cuobjdump'), shutil.which('cuobjdump')):
        if candidate and osp.isfile(candidate):
            return candidate
    pin = next(p for p in STACKS[0].toolkit
               if p.startswith('nvidia-cuda-cuobjdump'))
    target = osp.join(cache_root(), 'cuda', 'cuobjdump')
    found = glob.glob(osp.join(target, 'nvidia', '*', 'bin', 'cuobjdump'))
    if not found:
        subprocess.run([
            python, '-m', 'pip', 'install', '--quiet',
            '--disable-pip-version-check', '--no-deps', '--target', target, pin
        ],
                       check=True)
        found = glob.glob(osp.join(target, 'nvidia', '*', 'bin', 'cuobjdump'))
    if not found:
        raise ToolkitError(
            f'no cuobjdump in {cuda_home}/bin, on PATH or in {pin}')
    return found[0]


def device_archs(cuobjdump: str, path: str) -> List[str]:
    """The ``sm_XX`` architectures with device code (cubins) in ``path``.

    ``path`` is a shared library or a wheel (its extension modules are read).
    """
    with tempfile.TemporaryDirectory() as tmp:
        if path.endswith('.whl'):
            with zipfile.ZipFile(path) as wheel:
                names = [n for n in wheel.namelist() if n.endswith('.so')]
                wheel.extractall(tmp, names)
            files = [osp.join(tmp, n) for n in names]
        else:
            files = [path]
        archs = set()
        for file in files:
            run = subprocess.run([cuobjdump, '--list-elf', file],
                                 capture_output=True,
                                 text=True)
            archs.update(re.findall(r'\.(sm_\d+a?)\.cubin', run.stdout))
    return sorted(archs, key=lambda a: int(re.sub(r'\D', '', a)))


def arch_list_names(arch_list: str) -> List[str]:
    """``"7.5;8.0+PTX"`` -> ``['sm_75', 'sm_80']``."""
    names = []
    for item in re.split(r'[;\s]+', arch_list.strip()):
        found = re.fullmatch(r'(\d+)\.(\d+)(a?)(\+PTX)?', item)
        if not found:
            raise ToolkitError(
                f'{item!r} in TORCH_CUDA_ARCH_LIST={arch_list!r} is not '
                'an arch such as 8.0 or 9.0+PTX')
        names.append(f'sm_{found.group(1)}{found.group(2)}{found.group(3)}')
    return names


def main(argv: Sequence[str]) -> int:
    try:
        if len(argv) == 2 and argv[0] == 'home':
            print(toolkit_home(argv[1]))
            return 0
        if len(argv) in (3, 5) and argv[0] == 'archs':
            found = device_archs(
                find_cuobjdump(argv[1], sys.executable), argv[2])
            print(' '.join(found) or '(no device code)')
            if len(argv) == 5:
                if argv[3] != '--expect':
                    raise ToolkitError(
                        f'unknown option {argv[3]!r}; expected --expect')
                missing = [
                    a for a in arch_list_names(argv[4]) if a not in found
                ]
                if missing:
                    print(
                        f'[setup] {argv[2]} has no device code for '
                        f'{" ".join(missing)}',
                        file=sys.stderr)
                    return 1
            return 0
        raise ToolkitError(
            f'unknown arguments {list(argv)}; expected `home PYTHON` or '
            '`archs CUDA_HOME FILE [--expect LIST]`')
    except (ToolkitError, NoStack, subprocess.CalledProcessError) as err:
        print(f'[setup] {err}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
