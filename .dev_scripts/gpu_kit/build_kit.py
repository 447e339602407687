"""Build the GPU device kit: what a Python 3.12 CUDA machine without the
OpenMMLab stack and without network needs to run ``run.sh`` beside this file.

The kit folder (default ``gpu_kit/`` at the repository root, git-ignored)
holds:

* ``wheels/``: rla_mm (built from this checkout), mmengine, mmdet, mmpretrain,
  mmcv-lite (the pure-Python mmcv, no compiled ops) and every dependency of
  theirs that ``device_packages.txt`` does not list, as pure-Python wheels or
  CPython 3.12 manylinux x86-64 wheels, one version each;
* ``build/``: what building mmcv's ops there needs beyond the device's packages
  (setuptools < 81, whose ``pkg_resources`` mmcv 2.1.0's ``setup.py`` imports);
* ``sdist/``: the mmcv 2.1.0 source distribution;
* ``manifest.json``: the files with their sizes and SHA-256, the commit and a
  hash of the ``rla_mm/`` sources the rla_mm wheel was built from, and the
  requirement names the kit treats as provided by another distribution.

Dependencies are followed from each wheel's ``Requires-Dist`` (markers
evaluated for CPython 3.12 on x86-64 Linux); versions pinned in
``requirements/*.txt`` are used where a pin exists. Wheels already in the
folder are kept, and pip's own cache serves the rest, so a second build only
rebuilds the rla_mm wheel.

Usage (``make gpu-kit``):
    python .dev_scripts/gpu_kit/build_kit.py [--out gpu_kit]
"""
import argparse
import glob
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys
import zipfile
from email.parser import Parser
from typing import Dict, List, Optional, Set

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

HERE = osp.dirname(osp.abspath(__file__))
REPO_ROOT = osp.dirname(osp.dirname(HERE))
DEVICE_PACKAGES = osp.join(HERE, 'device_packages.txt')

# What the device's Python is, for pip and for requirement markers.
PYTHON_VERSION = '3.12'
MARKER_ENV = dict(
    python_version='3.12',
    python_full_version='3.12.3',
    sys_platform='linux',
    platform_system='Linux',
    platform_machine='x86_64',
    os_name='posix',
    implementation_name='cpython',
    platform_python_implementation='CPython',
    extra='')
PLATFORMS = ('manylinux_2_28_x86_64', 'manylinux_2_27_x86_64',
             'manylinux_2_24_x86_64', 'manylinux_2_17_x86_64',
             'manylinux2014_x86_64', 'manylinux1_x86_64')

# The packages the kit is for; their dependencies follow.
TOP = ('mmengine', 'mmdet', 'mmpretrain', 'mmcv-lite', 'rla_mm')
MMCV_VERSION = '2.1.0'
# Requirement name -> the distribution that provides it in the kit or on the
# device: the same import package under another distribution name.
PROVIDED_BY = {
    'mmcv': 'mmcv-lite',  # until the ops are built there (run.sh, level 2)
    'opencv-python': 'opencv-python-headless',
}
# Build-time needs of mmcv's setup.py on the device (build/), pinned.
BUILD_NEEDS = ('setuptools==79.0.1', )


def read_pins() -> Dict[str, str]:
    """``name==version`` lines of requirements/*.txt, by canonical name."""
    pins = {}
    for path in sorted(
            glob.glob(osp.join(REPO_ROOT, 'requirements', '*.txt'))):
        with open(path) as f:
            for line in f:
                line = line.split('#')[0].strip()
                if '==' in line:
                    name, version = line.split('==')
                    pins[canonicalize_name(name)] = version.strip()
    pins[canonicalize_name('mmcv-lite')] = MMCV_VERSION
    return pins


def read_device_packages(
        path: str = DEVICE_PACKAGES) -> Dict[str, Optional[str]]:
    """Canonical name -> version (None where the list gives none)."""
    packages = {}
    with open(path) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line:
                name, _, version = line.partition('==')
                packages[canonicalize_name(name)] = version or None
    return packages


def requirements_of(wheel: str) -> List[Requirement]:
    """The wheel's ``Requires-Dist`` that apply on the device (no extras)."""
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist()
                    if n.endswith('.dist-info/METADATA') and n.count('/') == 1)
        message = Parser().parsestr(z.read(meta).decode())
    reqs = []
    for line in message.get_all('Requires-Dist') or []:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(MARKER_ENV):
            reqs.append(req)
    return reqs


def wheel_name(path: str) -> str:
    return canonicalize_name(parse_wheel_filename(osp.basename(path))[0])


def pip(*args: str) -> None:
    cmd = [sys.executable, '-m', 'pip', *args]
    print(f'[gpu-kit] pip {args[0]} {args[-1]}', flush=True)
    subprocess.run(cmd, check=True)


def download(spec: str, dest: str) -> None:
    """One binary distribution for CPython 3.12 on x86-64 Linux, no deps."""
    platforms = [a for p in PLATFORMS for a in ('--platform', p)]
    pip('download', '--quiet', '--no-deps', '--only-binary=:all:',
        '--python-version', PYTHON_VERSION, '--implementation', 'cp', '--abi',
        'cp312', '--abi', 'abi3', '--abi', 'none', *platforms, '-d', dest,
        spec)


def have(folder: str, name: str, version: Optional[str]) -> bool:
    """A wheel of ``name`` (at ``version``, if given) is already in
    ``folder``."""
    for path in glob.glob(osp.join(folder, '*.whl')):
        n, v, _, _ = parse_wheel_filename(osp.basename(path))
        if canonicalize_name(n) == name and (version is None
                                             or str(v) == version):
            return True
    return False


def tree_hash() -> str:
    """run.sh's hash of the rla_mm/ sources (one implementation, in run.sh)."""
    return subprocess.run(
        ['bash', osp.join(HERE, 'run.sh'), '--tree-hash'],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True).stdout.strip()


def build_rla_mm(wheels: str) -> None:
    for old in glob.glob(osp.join(wheels, 'rla_mm-*.whl')):
        os.remove(old)
    pip('wheel', '--quiet', '--no-deps', '--no-build-isolation', '-w', wheels,
        REPO_ROOT)


def fill_wheels(wheels: str, pins: Dict[str, str],
                device: Dict[str, Optional[str]]) -> None:
    """Download TOP (but rla_mm, built here) and the closure of their needs."""
    provided = {canonicalize_name(k) for k in PROVIDED_BY}
    todo = [canonicalize_name(n) for n in TOP]
    seen: Set[str] = set()
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        if name != 'rla-mm':
            version = pins.get(name)
            if not have(wheels, name, version):
                download(f'{name}=={version}' if version else name, wheels)
        path = next(
            p for p in glob.glob(osp.join(wheels, '*.whl'))
            if wheel_name(p) == name)
        for req in requirements_of(path):
            dep = canonicalize_name(req.name)
            if dep not in device and dep not in provided:
                todo.append(dep)
    # Wheels no longer needed (a pin moved, a dependency went) must not stay:
    # two versions of one package stop the install there.
    for path in glob.glob(osp.join(wheels, '*.whl')):
        n, v, _, _ = parse_wheel_filename(osp.basename(path))
        n = canonicalize_name(n)
        if n not in seen or (n in pins and n != 'rla-mm'
                             and str(v) != pins[n]):
            print(f'[gpu-kit] removing {osp.basename(path)}')
            os.remove(path)


def fetch_sdist(folder: str) -> None:
    if glob.glob(osp.join(folder, f'mmcv-{MMCV_VERSION}.tar.gz')):
        return
    # mmcv's setup.py imports pkg_resources and torch: no build isolation.
    pip('download', '--quiet', '--no-deps', '--no-binary', ':all:',
        '--no-build-isolation', '-d', folder, f'mmcv=={MMCV_VERSION}')


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def git_commit() -> str:
    proc = subprocess.run(['git', 'rev-parse', 'HEAD'],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True)
    return proc.stdout.strip() if proc.returncode == 0 else 'unknown'


def write_manifest(out: str) -> dict:
    files = sorted(
        p for p in glob.glob(osp.join(out, '*', '*')) if osp.isfile(p))
    manifest = dict(
        python=PYTHON_VERSION,
        mmcv=MMCV_VERSION,
        commit=git_commit(),
        rla_mm_tree_hash=tree_hash(),
        top=list(TOP),
        provided_by=PROVIDED_BY,
        files={
            osp.relpath(p, out): dict(bytes=osp.getsize(p), sha256=sha256(p))
            for p in files
        })
    manifest['total_bytes'] = sum(f['bytes']
                                  for f in manifest['files'].values())
    with open(osp.join(out, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--out',
        default=osp.join(REPO_ROOT, 'gpu_kit'),
        help='kit folder (default: gpu_kit/ at the repository root)')
    args = parser.parse_args(argv)
    wheels, build, sdist = (
        osp.join(args.out, d) for d in ('wheels', 'build', 'sdist'))
    for folder in (wheels, build, sdist):
        os.makedirs(folder, exist_ok=True)
    pins, device = read_pins(), read_device_packages()
    build_rla_mm(wheels)
    fill_wheels(wheels, pins, device)
    for spec in BUILD_NEEDS:
        name, version = spec.split('==')
        if not have(build, canonicalize_name(name), version):
            download(spec, build)
    fetch_sdist(sdist)
    manifest = write_manifest(args.out)
    mib = manifest['total_bytes'] / 2**20
    print(f'[gpu-kit] {len(manifest["files"])} files, {mib:.1f} MiB in '
          f'{args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
