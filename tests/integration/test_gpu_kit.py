"""The GPU device kit (`make gpu-kit`, .dev_scripts/gpu_kit/): its size, that
its wheels install on the device's Python 3.12 with no index and cover every
need beside the device's own packages, and run.sh
(syntax, its CPU path, its budget).

The kit is built once per session from the registry (pip's cache makes a second
build fast) into a temporary folder.
"""
import glob
import json
import os
import os.path as osp
import sys
import zipfile
from email.parser import Parser

import pytest
from packaging.requirements import Requirement
from packaging.tags import compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version
from rla_testkit import process
from rla_testkit.checkout import REPO_ROOT, wheel_build_lock

# the kit is built by build_kit.py (from the registry: pip), and run.sh
# installs it: each may take minutes (their own timeouts, 900 s)
pytestmark = [pytest.mark.subprocess, pytest.mark.timeout(1200)]

KIT_SCRIPTS = osp.join(REPO_ROOT, '.dev_scripts', 'gpu_kit')
RUN_SH = osp.join(KIT_SCRIPTS, 'run.sh')
MIB = 2**20
# The device machine: CPython 3.12 on x86-64 Linux
# (glibc manylinux_2_28 or newer).
DEVICE_MARKERS = dict(
    python_version='3.12',
    python_full_version='3.12.3',
    sys_platform='linux',
    platform_system='Linux',
    platform_machine='x86_64',
    os_name='posix',
    implementation_name='cpython',
    platform_python_implementation='CPython',
    extra='')
DEVICE_PLATFORMS = ['manylinux_2_28_x86_64'
                    ] + [f'manylinux_2_{n}_x86_64'
                         for n in range(27, 4, -1)] + [
                             'manylinux2014_x86_64', 'manylinux2010_x86_64',
                             'manylinux1_x86_64', 'linux_x86_64'
                         ]
# Another distribution that installs the same import package.
PROVIDED_BY = {'mmcv': 'mmcv-lite', 'opencv-python': 'opencv-python-headless'}


@pytest.fixture(scope='session')
def kit(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('gpu_kit'))
    with wheel_build_lock():  # the kit builds rla_mm's wheel
        proc = process.run([
            sys.executable,
            osp.join(KIT_SCRIPTS, 'build_kit.py'), '--out', out
        ],
                           capture_output=True,
                           text=True,
                           timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return out


def device_packages():
    """Canonical name -> pinned version, or None, of the device's list."""
    with open(osp.join(KIT_SCRIPTS, 'device_packages.txt')) as f:
        reqs = [
            Requirement(x) for x in f.read().splitlines()
            if x.strip() and not x.startswith('#')
        ]
    return {
        canonicalize_name(r.name):
        next((s.version for s in r.specifier if s.operator == '=='), None)
        for r in reqs
    }


def kit_wheels(kit):
    """Canonical name -> (version, path) of kit/wheels/*.whl."""
    wheels = {}
    for path in sorted(glob.glob(osp.join(kit, 'wheels', '*.whl'))):
        name, version, _, _ = parse_wheel_filename(osp.basename(path))
        name = canonicalize_name(name)
        assert name not in wheels, f'two wheels of {name}: stops the install'
        wheels[name] = (version, path)
    return wheels


def requires(path):
    with zipfile.ZipFile(path) as z:
        meta = [n for n in z.namelist() if n.endswith('.dist-info/METADATA')]
        text = z.read(meta[0]).decode()
    reqs = [
        Requirement(r)
        for r in Parser().parsestr(text).get_all('Requires-Dist') or []
    ]
    return [
        r for r in reqs
        if r.marker is None or r.marker.evaluate(DEVICE_MARKERS)
    ]


def test_kit_size_and_manifest(kit):
    files = [
        p for p in glob.glob(osp.join(kit, '**', '*'), recursive=True)
        if osp.isfile(p)
    ]
    total = sum(osp.getsize(p) for p in files)
    tracked = process.run(['git', 'ls-files', '-z'],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True,
                          timeout=60).stdout.split('\0')
    tree = sum(
        osp.getsize(osp.join(REPO_ROOT, p)) for p in tracked
        if p and osp.isfile(osp.join(REPO_ROOT, p)))
    # What travels to the device: the working tree plus the carried kit, 64
    # MiB.
    assert total < 32 * MIB, f'kit is {total / MIB:.1f} MiB'
    assert total + tree < 64 * MIB
    with open(osp.join(kit, 'manifest.json')) as f:
        manifest = json.load(f)
    assert set(manifest['files']) == {osp.relpath(p, kit)
                                      for p in files} - {'manifest.json'}
    assert manifest['total_bytes'] == total - osp.getsize(
        osp.join(kit, 'manifest.json'))
    assert manifest['provided_by'] == PROVIDED_BY
    assert os.listdir(osp.join(kit, 'sdist')) == ['mmcv-2.1.0.tar.gz']
    build = os.listdir(osp.join(kit, 'build'))
    assert len(build) == 1 and build[0].startswith('setuptools-')
    assert Version(build[0].split('-')[1]) < Version('81')  # has pkg_resources


def test_every_wheel_installs_on_python_3_12_with_no_index(kit, tmp_path):
    supported = set(cpython_tags((3, 12), platforms=DEVICE_PLATFORMS)) | set(
        compatible_tags((3, 12), 'cp312', DEVICE_PLATFORMS))
    for name, (_, path) in kit_wheels(kit).items():
        tags = parse_wheel_filename(osp.basename(path))[3]
        assert tags & supported, (f'{osp.basename(path)} does not install on '
                                  'cp312')
    platforms = [
        a for p in ('manylinux_2_28_x86_64', 'manylinux2014_x86_64')
        for a in ('--platform', p)
    ]
    proc = process.run([
        sys.executable, '-m', 'pip', 'install', '--dry-run', '--no-index',
        '--no-deps', '--only-binary=:all:', '--python-version', '3.12',
        '--implementation', 'cp', '--abi', 'cp312', *platforms, '--target',
        str(tmp_path / 'site'), '--report',
        str(tmp_path / 'r.json'),
        *sorted(glob.glob(osp.join(kit, 'wheels', '*.whl')))
    ],
                       capture_output=True,
                       text=True,
                       timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / 'r.json') as f:
        installed = {
            canonicalize_name(i['metadata']['name'])
            for i in json.load(f)['install']
        }
    assert installed == set(kit_wheels(kit))


def test_every_requirement_is_met_by_the_kit_or_the_device(kit):
    wheels, device = kit_wheels(kit), device_packages()
    assert {'mmengine', 'mmdet', 'mmpretrain', 'mmcv-lite',
            'rla-mm'} <= set(wheels)
    shadowing = sorted(set(wheels) & set(device))
    assert not shadowing, ('the kit would shadow the device packages '
                           f'{shadowing}')
    unmet = []
    for owner, (_, path) in wheels.items():
        for req in requires(path):
            name = canonicalize_name(req.name)
            name = PROVIDED_BY.get(name, name)
            if name in wheels:
                version = wheels[name][0]
            elif name in device:
                version = device[name] and Version(device[name])
            else:
                unmet.append(
                    f'{owner}: {req} (neither in the kit nor on the device)')
                continue
            if version and req.specifier and not req.specifier.contains(
                    version, prereleases=True):
                unmet.append(f'{owner}: {req}, but {name} {version} is there')
    assert not unmet, '\n'.join(unmet)


def test_the_rla_mm_wheel_is_this_checkout(kit):
    with open(osp.join(kit, 'manifest.json')) as f:
        manifest = json.load(f)
    tree = process.run(['bash', RUN_SH, '--tree-hash'],
                       capture_output=True,
                       text=True,
                       check=True,
                       timeout=60).stdout.strip()
    assert manifest['rla_mm_tree_hash'] == tree and len(tree) == 16
    with zipfile.ZipFile(kit_wheels(kit)['rla-mm'][1]) as z:
        names = set(z.namelist())
    for part in ('rla_mm/testing/gpu_checks.py',
                 'rla_mm/testing/backbone_cases.py',
                 'rla_mm/models/backbones/rla_resnet.py'):
        assert part in names


def test_run_sh_syntax_and_bad_arguments(tmp_path):
    assert process.run(['bash', '-n', RUN_SH], timeout=60).returncode == 0
    for args, says in ((['--level', '3'], "--level must be 1 or 2, got '3'"),
                       (['--budget',
                         'soon'], "--budget must be a whole number"),
                       (['--fast'], "unknown argument '--fast'")):
        proc = process.run(['bash', RUN_SH, *args],
                           capture_output=True,
                           text=True,
                           timeout=60)
        assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    proc = process.run(['bash', RUN_SH, '--cpu'],
                       capture_output=True,
                       text=True,
                       env=dict(os.environ, KIT=str(tmp_path / 'none')),
                       timeout=60)
    assert proc.returncode == 2 and "run 'make gpu-kit' first" in proc.stderr


def run_kit(kit, out, *args):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(KIT=kit, OUT=str(out), PYTHON=sys.executable)
    return process.run(['bash', RUN_SH, '--cpu', *args],
                       capture_output=True,
                       text=True,
                       env=env,
                       timeout=900)


@pytest.mark.slow
def test_cpu_path_runs_level_1_from_the_kits_wheels(kit, tmp_path):
    out = tmp_path / 'out'
    proc = run_kit(kit, out, '--budget', '600')
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    summary = (out / 'summary.md').read_text()
    # mmcv is the kit's mmcv-lite (no compiled ops), not this environment's
    # mmcv.
    for name in ('mmengine 0.10.7', 'mmcv 2.1.0', 'mmpretrain 1.2.0',
                 'rla_mm'):
        line = next(x for x in summary.splitlines()
                    if x.startswith(name + ' '))
        assert '/rla_mm_kit.' in line and line.endswith('/site'), line
    assert "the kit's wheel (built from these rla_mm/ sources" in summary
    assert '[ok] backbone RLAPreActResNet(depth=164) 16x16' in summary
    assert 'gpu_check: 2 passed, 0 failed' in summary
    for row in ('| cls | inference (s) |', '| cls | train step (s) |',
                '| cls | train-step peak (MiB) |'):
        assert row in summary
    assert 'level 1 passed' in summary
    steps = (out / 'steps.tsv').read_text().splitlines()
    assert [s.split('\t')[1] for s in steps[1:]] == ['ok'] * 3, steps
    # What comes back from the device: at most 8 plain files, no folders.
    assert sorted(os.listdir(out)) == ['run.log', 'steps.tsv', 'summary.md']
    assert 'RLAPreActResNet' in (out / 'run.log').read_text()


def test_a_budget_too_small_skips_and_fails_level_1(kit, tmp_path):
    out = tmp_path / 'out'
    proc = run_kit(kit, out, '--budget', '1')
    assert proc.returncode == 1, proc.stdout[-3000:]
    steps = (out / 'steps.tsv').read_text().splitlines()
    assert steps[1].startswith('install\tok')
    assert all('\tskipped (' in s for s in steps[2:]) and len(steps) == 4
    assert 'level 1 FAILED' in (out / 'summary.md').read_text()
