"""Imported first by the tools that the README runs with ``python``.

A Python without torch, mmengine or mmcv (a new shell where the project's venv
is not activated, say) would stop on a ModuleNotFoundError; this stops instead
with what to do.
"""
import importlib.util
import os.path as osp
import sys

MISSING = [
    name for name in ('torch', 'mmengine', 'mmcv')
    if importlib.util.find_spec(name) is None
]
if MISSING:
    _venv = osp.join(
        osp.dirname(osp.dirname(osp.realpath(__file__))), '.venv', 'bin',
        'python')
    _rerun = f'  {_venv} ' + ' '.join(sys.argv) if osp.exists(_venv) else \
        '  make setup    (then the line above)'
    sys.exit(
        f'{osp.basename(sys.argv[0])}: this Python ({sys.executable}) cannot '
        f'import {", ".join(MISSING)}. Run rla_mm\'s tools in the environment '
        'that has them:\n'
        '  source .venv/bin/activate    (the venv of `make setup`), or '
        'activate your own OpenMMLab environment with rla_mm installed;\n'
        f'or call that Python directly:\n{_rerun}')
