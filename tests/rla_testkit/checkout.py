"""The checkout under test: its root, its fixtures, its scripts and its
wheel."""
import contextlib
import fcntl
import hashlib
import importlib.util
import os
import os.path as osp
import sys
import tempfile

from .process import run

#: The checkout under test; tests run from it whether rla_mm is imported from
#: it or from an installed wheel (``make test-compat``).
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: Recorded layouts and facts the tests compare with (tests/fixtures/).
FIXTURES = osp.join(REPO_ROOT, 'tests', 'fixtures')


def load_script(relpath: str):
    """Import a script of the checkout (``tools/...``, ``.dev_scripts/...``:
    not a package) as a module.

    Its folder goes first on ``sys.path``, as when Python runs the script: that
    is how a tool imports the helpers beside it
    (``env_check``, ``plot_curves``). Code that tools and tests share is in the
    package (``rla_mm.utils``) instead.

    Args:
        relpath (str): The script's path relative to the checkout.
    """
    path = osp.join(REPO_ROOT, relpath)
    folder = osp.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = 'script_' + osp.splitext(relpath)[0].strip('.').replace('/', '_')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_tool(relpath: str):
    """:func:`load_script` of ``tools/relpath``."""
    return load_script(osp.join('tools', relpath))


@contextlib.contextmanager
def wheel_build_lock():
    """Hold the lock on building rla_mm's wheel from this checkout.

    pip builds a local project in place (``build/``, ``rla_mm.egg-info``), so
    two builds of one checkout at once, from two pytest-xdist workers, would
    write over each other.
    """
    key = hashlib.sha1(REPO_ROOT.encode()).hexdigest()[:12]
    path = osp.join(tempfile.gettempdir(), f'rla_mm-wheel-{key}.lock')
    with open(path, 'w') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def install_wheel(folder: str) -> str:
    """Build rla_mm's wheel from this checkout into ``folder`` and install it
    into ``folder``/site (no dependencies, nothing from the network); return
    that site.

    This is rla_mm as a user's ``pip install`` leaves it, beside the test
    venv's packages: put the site first on ``PYTHONPATH`` to use it.
    """
    site = osp.join(folder, 'site')
    for command in ([
            'wheel', '--no-deps', '--no-build-isolation', '-q', REPO_ROOT,
            '-w', folder
    ], None):
        if command is None:
            wheels = [
                n for n in os.listdir(folder)
                if n.startswith('rla_mm-') and n.endswith('.whl')
            ]
            assert len(wheels) == 1, wheels
            command = [
                'install', '-q', '--no-deps', '--no-index', '--target', site,
                osp.join(folder, wheels[0])
            ]
        with wheel_build_lock():
            proc = run([sys.executable, '-m', 'pip', *command],
                       capture_output=True,
                       text=True,
                       timeout=300)
        assert proc.returncode == 0, proc.stderr
    return site


def stack_installs(requirements: str) -> bool:
    """Whether the stack of this environment installs ``requirements`` (a
    file of requirements/) as one of its own: the row of
    .dev_scripts/setup/stacks.py whose torch this environment has. False for
    a torch of no row (a user's environment).
    """
    import torch
    stacks = load_script('.dev_scripts/setup/stacks.py')
    version = torch.__version__.split('+')[0]
    return any(requirements in s.own_requirements for s in stacks.STACKS
               if s.torch == version)
