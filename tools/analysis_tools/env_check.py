"""``import env_check``, first in a tool of this folder, runs
``tools/env_check.py``: Python puts a script's own folder first on
``sys.path``, so the tools here import this file as ``tools/train.py`` imports
the one beside it. It must run before anything imports torch, so it cannot come
from the package."""
import importlib.util
import os.path as osp

_spec = importlib.util.spec_from_file_location(
    'tools_env_check',
    osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'env_check.py'))
_spec.loader.exec_module(importlib.util.module_from_spec(_spec))
