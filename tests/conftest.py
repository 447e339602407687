import importlib.util
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# Let tests import the helpers that sit beside them (rla_functional).
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))


def load_tool(relpath: str):
    """Import a script under tools/ (not a package) as a module.

    Its folder goes first on ``sys.path``, as when Python runs the script: that is
    how a tool imports the helpers beside it (``cli_options``, ``markdown_block``, ...).
    """
    path = osp.join(REPO_ROOT, 'tools', relpath)
    folder = osp.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = 'tool_' + relpath.replace('/', '_').replace('.py', '')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
