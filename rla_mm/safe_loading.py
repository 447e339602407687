"""Safe loading: runner checkpoints under torch's safe unpickler, and foreign files.

torch >= 2.6 loads with ``weights_only=True`` by default, and MMEngine 0.10.7 calls
``torch.load`` without saying otherwise. A Runner checkpoint holds a message hub with
``HistoryBuffer`` objects and numpy arrays and scalars, which the safe unpickler
refuses. :func:`install_safe_globals` allow-lists exactly those types, so
``tools/test.py CKPT``, ``--resume`` and ``load_from`` work while safe loading stays on.
On an older torch, which unpickles anything by default (and before 2.4 has no
allow-list), it does nothing. Files that come from elsewhere (the converter's inputs)
go through :func:`load_foreign`, which asks for ``weights_only=True`` wherever torch
offers the argument.

``HistoryBuffer`` pickles references to its statistics methods through
``getattr(HistoryBuffer, 'mean')``. Allow-listing the real ``getattr`` would let a
crafted file reach any attribute of any allowed object, so a stand-in registered
under the name ``builtins.getattr`` resolves only those methods.
"""
import importlib
import inspect
import pickle
import re
import warnings
from typing import Any, List, Tuple

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

HISTORY_BUFFER_METHODS = frozenset(('min', 'max', 'mean', 'current'))


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to HistoryBuffer's statistics methods.

    Args:
        obj (Any): The object named in the pickle; must be HistoryBuffer.
        name (str): The attribute; must be one of its statistics methods.
    """
    if obj is HistoryBuffer and name in HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: only '
        f'HistoryBuffer statistics methods {sorted(HISTORY_BUFFER_METHODS)} '
        f'are allowed')


def _numpy_globals() -> List[Any]:
    # numpy 2 moved numpy.core to numpy._core; numpy 1.26 has both names, but its
    # numpy._core only fills in once imported, so import the module by name
    multiarray = importlib.import_module('numpy._core.multiarray')
    dtype_classes = [
        cls for cls in vars(np.dtypes).values()
        if isinstance(cls, type) and issubclass(cls, np.dtype)
    ]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray,
            np.dtype, *dtype_classes]


def safe_globals() -> List[Any]:
    """The globals that MMEngine runner checkpoints need, for ``add_safe_globals``."""
    import _codecs
    return [
        HistoryBuffer, _codecs.encode, *_numpy_globals(),
        (history_buffer_getattr, 'builtins.getattr')
    ]


def torch_version(version: str) -> Tuple[int, int]:
    """``(major, minor)`` of a torch version string such as '2.6.0+cu124'.

    Args:
        version (str): ``torch.__version__``.
    """
    match = re.match(r'(\d+)\.(\d+)', str(version))
    if match is None:
        raise ValueError(f'cannot read a torch version from {version!r}')
    return int(match.group(1)), int(match.group(2))


def loads_weights_only_by_default() -> bool:
    """Whether this torch's ``torch.load`` uses ``weights_only=True`` by default
    (torch >= 2.6) and has the allow-list to go with it."""
    return torch_version(torch.__version__) >= (2, 6) and hasattr(
        torch.serialization, 'add_safe_globals')


def install_safe_globals() -> bool:
    """Allow-list the runner checkpoint types for ``torch.load(weights_only=True)``.

    Returns:
        bool: True if installed; False on a torch that does not load with
        ``weights_only=True`` by default, where nothing is needed.
    """
    if not loads_weights_only_by_default():
        return False
    torch.serialization.add_safe_globals(safe_globals())
    return True


def load_foreign(path: str, map_location: str = 'cpu') -> Any:
    """``torch.load`` a file from elsewhere with ``weights_only=True``.

    A torch too old to offer the argument (< 1.13) loads it the unsafe way, with
    a warning.

    Args:
        path (str): The file.
        map_location (str): Where to put the tensors. Default: 'cpu'.
    """
    if 'weights_only' in inspect.signature(torch.load).parameters:
        return torch.load(path, map_location=map_location, weights_only=True)
    warnings.warn(f'torch {torch.__version__} cannot restrict unpickling to '
                  f'weights; loading {path} the unsafe way')
    return torch.load(path, map_location=map_location)
