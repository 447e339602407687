"""The house of docs/architecture.md, held to the real imports.

Every Python file of the package, tools/ and .dev_scripts/ is parsed (imports
inside functions included) and each import is checked against the arrows of its
room: which rla_mm modules and which other packages it may import. A new module
outside every room, or a new arrow, fails here until the table (and the doc)
say where it belongs.
"""
import ast
import glob
import os.path as osp
import sys
from typing import Dict, Iterator, List, Tuple

import pytest
from rla_testkit.checkout import REPO_ROOT

# The package's core: what `import rla_mm` and the models need.
CORE = ('rla_mm.checks', 'rla_mm.registry', 'rla_mm.pretrained',
        'rla_mm.safe_loading', 'rla_mm.configs', 'rla_mm.model_zoo',
        'rla_mm.version')
MODEL_DEPS = ('torch', 'mmengine', 'mmcv.cnn')
# The documented commands `python -m rla_mm.convert_rlanet` and
# `python -m rla_mm.convert_mmdet2`: modules at the package root that run a
# converter's main (docs/architecture.md, docs/weights.md).
CONVERTER_COMMANDS = ('rla_mm.convert_rlanet', 'rla_mm.convert_mmdet2')
CONVERTERS = ('rla_mm.converters', ) + CONVERTER_COMMANDS

# room (a module or package) -> (rla_mm modules it may import, other packages
# it may import besides the standard library); the longest room a module is in
# is its room. None: any.
# yapf: disable  (it cannot split the comprehensions below)
ROOMS: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    'rla_mm': (CORE + ('rla_mm.models', ), ('torch', 'mmengine')),
    **{
        m: (CORE, ('torch', 'numpy', 'mmengine', 'yaml', 'modelindex',
                   'mmpretrain'))
        for m in CORE
    },
    'rla_mm.models': (('rla_mm.models', ), ()),
    'rla_mm.models.layers':
    (('rla_mm.checks', 'rla_mm.models.layers'), MODEL_DEPS),
    'rla_mm.models.backbones':
    (('rla_mm.checks', 'rla_mm.registry', 'rla_mm.pretrained',
      'rla_mm.models.layers', 'rla_mm.models.backbones'), MODEL_DEPS),
    'rla_mm.datasets':
    (('rla_mm.checks', 'rla_mm.registry', 'rla_mm.datasets'),
     ('torch', 'mmengine', 'mmpretrain', 'numpy')),
    **{
        m: (CONVERTERS +
            ('rla_mm.models', 'rla_mm.configs', 'rla_mm.safe_loading'),
            ('torch', 'mmengine', 'mmdet'))
        for m in CONVERTERS
    },
    'rla_mm.deployment':
    (('rla_mm', 'rla_mm.deployment'), ('torch', 'numpy', 'onnx', 'onnxruntime',
                                       'mmengine', 'mmdet', 'mmpretrain')),
    'rla_mm.visualization': (('rla_mm.models', 'rla_mm.visualization'),
                             ('torch', )),
    # shared by gpu_check, the contract test and tests/cuda; read by the
    # fixture recorder on its own (backbone_cases imports nothing of rla_mm)
    'rla_mm.testing': (('rla_mm', 'rla_mm.registry', 'rla_mm.testing'),
                       ('torch', 'mmengine')),
    'rla_mm.utils': (('rla_mm.utils', ),
                     ('torch', 'mmengine', 'numpy', 'cv2', 'sklearn')),
}
# yapf: enable
# Scripts beside a tool that it may import by name (Python puts a script's
# folder first on sys.path); everything else they share is in the package.
TOOL_SIBLINGS = ('env_check', 'plot_curves')
# (.dev_scripts/fixtures/record_backbone_keys.py reads the case table
# (rla_mm/testing/backbone_cases.py) on its own, as it stood at the revision it
# records, and both recorders the tests' rla_testkit.key_layouts.)
DEV_SIBLINGS = ('stacks', 'backbone_cases', 'rla_testkit')
# The tests' helpers (tests/rla_testkit/); tests import them, and nothing else
# of tests/ but what is listed beside them here.
TEST_HELPERS = 'rla_testkit'
# A module beside the tests of its own folder: the sweep's harness.
TEST_LOCAL_MODULES = {'tests/sweep/config_sweep.py': ('tests/sweep', )}
# Calls that start a process, which tests make through rla_testkit.process.run
# only.
PROCESS_STARTERS = (('subprocess', 'run'), ('subprocess', 'call'),
                    ('subprocess', 'check_call'),
                    ('subprocess', 'check_output'), ('subprocess', 'Popen'),
                    ('os', 'system'), ('os', 'popen'), ('os', 'fork'),
                    ('os', 'execv'), ('os', 'execvp'), ('os', 'spawnv'))


def module_name(path: str) -> str:
    parts = osp.splitext(osp.relpath(path, REPO_ROOT))[0].split(osp.sep)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def imports(path: str) -> Iterator[Tuple[int, str]]:
    """(line, absolute dotted name) of every import in ``path``."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    package = module_name(path)
    if not path.endswith('__init__.py'):
        package = package.rpartition('.')[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parent = package.split('.')
                parent = parent[:len(parent) - node.level + 1]
                base = '.'.join(parent + ([base] if base else []))
            yield node.lineno, base


def within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + '.') for p in prefixes)


def room_of(module: str) -> str:
    rooms = [r for r in ROOMS if within(module, (r, ))]
    assert rooms, f'{module} is in no room of docs/architecture.md'
    return max(rooms, key=len)


def files(folder: str) -> List[str]:
    return sorted(
        glob.glob(osp.join(REPO_ROOT, folder, '**', '*.py'), recursive=True))


def local_scripts(folder: str) -> set:
    """The names of the modules and packages under ``folder``."""
    paths = files(folder)
    modules = {osp.splitext(osp.basename(p))[0] for p in paths}
    packages = {
        osp.basename(osp.dirname(p))
        for p in paths if p.endswith('__init__.py')
    }
    return modules | packages


def third_party(name: str) -> bool:
    top = name.split('.')[0]
    return top not in sys.stdlib_module_names and top != 'rla_mm'


@pytest.mark.parametrize(
    'path', files('rla_mm'), ids=lambda p: osp.relpath(p, REPO_ROOT))
def test_package_modules_import_along_their_rooms_arrows(path):
    module = module_name(path)
    room = room_of(module)
    internal, external = ROOMS[room]
    scripts = local_scripts('tools') | local_scripts('tests') | \
        local_scripts('.dev_scripts')
    for line, name in imports(path):
        where = f'{osp.relpath(path, REPO_ROOT)}:{line} imports {name}'
        assert name.split('.')[0] not in scripts, \
            (f'{where}: the package never imports tools/, tests/ or '
             '.dev_scripts/')
        if within(name, ('rla_mm', )):
            assert internal is None or within(name, internal), \
                f'{where}: room {room} may import only {internal}'
        elif third_party(name):
            assert external is None or within(name, external), \
                f'{where}: room {room} may import only {external}'


@pytest.mark.parametrize('folder,siblings', [('tools', TOOL_SIBLINGS),
                                             ('.dev_scripts', DEV_SIBLINGS)])
def test_scripts_import_the_package_not_each_other(folder, siblings):
    others = local_scripts('tests') | local_scripts('tools') | \
        local_scripts('.dev_scripts')
    for path in files(folder):
        for line, name in imports(path):
            top = name.split('.')[0]
            assert top not in others or top in siblings, \
                (f'{osp.relpath(path, REPO_ROOT)}:{line} imports the script '
                 f'{name}; code that scripts share belongs in rla_mm.utils')


def test_tools_run_env_check_first_one_way():
    """Every tool that imports env_check does so first; a sub-folder's
    env_check.py runs tools/env_check.py (the same few lines everywhere); no
    tool changes sys.path."""
    forwarders = []
    for path in files('tools'):
        rel = osp.relpath(path, REPO_ROOT)
        with open(path) as f:
            source = f.read()
        assert 'sys.path.insert' not in source and \
            'sys.path.append' not in source, f'{rel} changes sys.path'
        if osp.basename(path) == 'env_check.py':
            if rel != 'tools/env_check.py':
                forwarders.append(source)
            continue
        tree = ast.parse(source, path)
        found = [
            i for i, node in enumerate(tree.body) if
            isinstance(node, ast.Import) and node.names[0].name == 'env_check'
        ]
        if found:
            first = next(i for i, node in enumerate(tree.body)
                         if isinstance(node, (ast.Import, ast.ImportFrom)))
            assert found == [first], f'{rel}: import env_check comes first'
            assert osp.isfile(osp.join(osp.dirname(path), 'env_check.py')), \
                f'{rel}: no env_check.py beside it'
    assert forwarders and len(set(forwarders)) == 1, \
        'the sub-folders\' env_check.py differ'
    assert "'env_check.py'" in forwarders[0]


def test_tests_import_no_tool_as_a_module():
    tools = local_scripts('tools') | local_scripts('.dev_scripts')
    for path in files('tests'):
        for line, name in imports(path):
            assert name.split('.')[0] not in tools, \
                (f'{osp.relpath(path, REPO_ROOT)}:{line} imports {name}: '
                 'load a script with rla_testkit.checkout.load_script, or '
                 'import rla_mm')


def test_tests_share_helpers_through_rla_testkit_only():
    """No test imports conftest or another test file, and every module of
    tests/ that is not a test is in rla_testkit (or listed with its
    folder)."""
    modules = {}
    for path in files('tests'):
        rel = osp.relpath(path, REPO_ROOT)
        name = osp.splitext(osp.basename(path))[0]
        if rel.startswith(f'tests/{TEST_HELPERS}/') or \
                name.startswith('test_') or name == 'conftest':
            continue
        assert rel in TEST_LOCAL_MODULES, (
            f'{rel}: a helper module outside tests/{TEST_HELPERS}/; move it '
            'there')
        modules[name] = TEST_LOCAL_MODULES[rel]
    for path in files('tests'):
        rel = osp.relpath(path, REPO_ROOT)
        for line, name in imports(path):
            top = name.split('.')[0]
            where = f'{rel}:{line} imports {name}'
            assert top != 'conftest', (
                f'{where}: import what tests share from {TEST_HELPERS} '
                '(conftest holds fixtures and hooks only)')
            assert not top.startswith('test_'), (
                f'{where}: move what tests share into {TEST_HELPERS}')
            if top in modules:
                assert osp.dirname(rel) in modules[top], where


def test_tests_start_processes_through_the_testkit_with_a_timeout():
    """A test starts a process only through rla_testkit.process.run, which
    stops the process group with the test, and gives it a timeout of its
    own."""
    for path in files('tests'):
        rel = osp.relpath(path, REPO_ROOT)
        if rel == f'tests/{TEST_HELPERS}/process.py':
            continue
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)):
                continue
            call = (node.func.value.id, node.func.attr)
            where = f'{rel}:{node.lineno}'
            assert call not in PROCESS_STARTERS, (
                f'{where}: {".".join(call)}(...); start processes with '
                f'{TEST_HELPERS}.process.run (and mark the test subprocess)')
            if call == ('process', 'run'):
                assert any(k.arg == 'timeout' for k in node.keywords), (
                    f'{where}: process.run without a timeout')


def test_the_arrows_are_the_ones_of_the_doc():
    with open(osp.join(REPO_ROOT, 'docs', 'architecture.md')) as f:
        doc = f.read()
    for room in ROOMS:
        assert f'`{room}`' in doc, f'docs/architecture.md lacks room {room}'


def test_every_room_is_a_module_of_the_package():
    for room in ROOMS:
        path = osp.join(REPO_ROOT, *room.split('.'))
        assert osp.isfile(path + '.py') or osp.isfile(
            osp.join(path, '__init__.py')), f'room {room} is no module'
