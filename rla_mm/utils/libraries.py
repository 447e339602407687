"""Which OpenMMLab library a config needs, and a one-line stop when an
optional one is not installed.

MMDetection and MMPretrain are rla_mm's own requirements; MMSegmentation is
the optional extra ``rla_mm[seg]``. Without it, a segmentation config fails
deep inside MMEngine (``mmseg is not installed`` while reading ``_base_``, or a
registry ``KeyError`` when the runner builds ``SegDataPreProcessor``); the
tools stop before that with what to install.
"""
import importlib.util
import os.path as osp
import re
import sys
from typing import Iterator, Optional, Set

#: Optional libraries: package -> (name, rla_mm's extra that installs it).
OPTIONAL = {
    'mmseg': ('MMSegmentation', 'seg'),
}

_SCOPE = re.compile(r'''['"](\w+)::''')
_DEFAULT_SCOPE = re.compile(r'''default_scope\s*=\s*['"](\w+)['"]''')
_LOCAL_FILE = re.compile(r'''['"]([^'"\n]+\.py)['"]''')


def _config_files(config: str) -> Iterator[str]:
    """``config`` and the local files it inherits (paths in it that name an
    existing ``.py`` file beside it), each once."""
    seen: Set[str] = set()
    stack = [osp.abspath(config)]
    while stack:
        path = stack.pop()
        if path in seen or not osp.isfile(path):
            continue
        seen.add(path)
        yield path
        with open(path, encoding='utf-8') as f:
            text = f.read()
        for name in _LOCAL_FILE.findall(text):
            if '::' not in name:
                stack.append(osp.join(osp.dirname(path), name))


def config_libraries(config: str) -> Set[str]:
    """The packages a config file names as scopes: its ``default_scope`` and
    the ``pkg::`` prefixes of its ``_base_`` files and types, through its local
    base files.

    Args:
        config (str): Path of a config file.
    """
    found: Set[str] = set()
    for path in _config_files(config):
        with open(path, encoding='utf-8') as f:
            text = f.read()
        found.update(_SCOPE.findall(text))
        found.update(_DEFAULT_SCOPE.findall(text))
    return found


def missing_library(config: str) -> Optional[str]:
    """The line that says which optional library ``config`` needs and how to
    install it, if that library is not installed; else None.

    Args:
        config (str): Path of a config file.
    """
    for package in sorted(config_libraries(config) & set(OPTIONAL)):
        if importlib.util.find_spec(package) is None:
            name, extra = OPTIONAL[package]
            return (f'{config} is an {name} config, and {name} is not '
                    f'installed in this Python ({sys.executable}): pip '
                    f"install 'rla_mm[{extra}]' (from a checkout of rla_mm: "
                    f"pip install '.[{extra}]')")
    return None


def require_libraries(config: str) -> None:
    """Stop with :func:`missing_library`'s line (exit status 1) when
    ``config`` needs an optional library that is not installed.

    Args:
        config (str): Path of a config file.
    """
    line = missing_library(config)
    if line is not None:
        sys.exit(line)
