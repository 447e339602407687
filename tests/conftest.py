import importlib.util
import os
import os.path as osp
import subprocess
import sys

import pytest

#: The checkout under test; tests run from it whether rla_mm is imported from
#: it or from an installed wheel (``make test-compat``).
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
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
        proc = subprocess.run([sys.executable, '-m', 'pip', *command],
                              capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stderr
    return site


@pytest.fixture(autouse=True)
def default_scope_stays():
    """Each test starts with the registry scope the one before it found.

    ``init_default_scope`` sets a process-wide scope
    (MMEngine's ``DefaultScope``): a test that sets 'mmdet' would make a later
    MMPretrain call build its transforms from MMDetection's registry. The
    scopes a test creates go when it ends (MMEngine's own
    ``overwrite_default_scope`` restores the same way).
    """
    from mmengine.registry import DefaultScope
    before = set(DefaultScope._instance_dict)
    yield
    for name in list(DefaultScope._instance_dict):
        if name not in before:
            DefaultScope._instance_dict.pop(name)


def randomize_norms(model, seed: int = 0):
    """Give every BN of ``model`` random statistics and affine parameters (not
    the identity of a fresh BN), so that loading them is visible in outputs;
    return ``model`` in eval mode."""
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm
    torch.manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    model.eval()  # MMDetection's train() returns None, so this is no chain
    return model


def save_untrained(config: str, path, options=(), classes=None) -> str:
    """Build the model of ``config`` with seed 0 under the config's default
    scope and save it as a checkpoint at ``path``; return the path.

    Args:
        config (str): A config file.
        path (str | Path): Where the checkpoint goes (folders are made).
        options (sequence[str]): ``key=int`` overrides of the config.
        classes (sequence[str], optional): The checkpoint's
            ``meta.dataset_meta.classes``; default: the config's ``classes``,
            or no dataset meta.
    """
    import torch
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({
        k: int(v)
        for k, v in (o.split('=') for o in options)
    })
    if classes is None and 'classes' in cfg:
        classes = cfg.classes
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(cfg.model)
    path = str(path)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    meta = {} if classes is None else dict(
        dataset_meta=dict(classes=list(classes)))
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return path
