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
from conftest import REPO_ROOT

# The package's core: what `import rla_mm` and the models need.
CORE = ('rla_mm.checks', 'rla_mm.registry', 'rla_mm.pretrained',
        'rla_mm.safe_loading', 'rla_mm.configs', 'rla_mm.model_zoo',
        'rla_mm.version')
MODEL_DEPS = ('torch', 'mmengine', 'mmcv.cnn')
# The converter modules at the package root until they join rla_mm.converters.
LEGACY_CONVERTERS = ('rla_mm.convert_rlanet', 'rla_mm.convert_mmdet2',
                     'rla_mm.convert_ablation')
CONVERTERS = ('rla_mm.converters', ) + LEGACY_CONVERTERS

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
# (rla_mm/testing/backbone_cases.py) and tests/key_layouts.py on their own, as
# they stood at the revision it records.)
DEV_SIBLINGS = ('stacks', 'backbone_cases', 'key_layouts')


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
    return {osp.splitext(osp.basename(p))[0] for p in files(folder)}


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


def test_tests_import_no_tool_as_a_module():
    tools = local_scripts('tools') | local_scripts('.dev_scripts')
    for path in files('tests'):
        for line, name in imports(path):
            assert name.split('.')[0] not in tools, \
                (f'{osp.relpath(path, REPO_ROOT)}:{line} imports {name}: '
                 'load a script with conftest.load_script, or import rla_mm')


def test_the_arrows_are_the_ones_of_the_doc():
    with open(osp.join(REPO_ROOT, 'docs', 'architecture.md')) as f:
        doc = f.read()
    for room in ROOMS:
        if room not in LEGACY_CONVERTERS:
            assert f'`{room}`' in doc, ('docs/architecture.md lacks room '
                                        f'{room}')
