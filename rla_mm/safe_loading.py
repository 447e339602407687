"""Safe loading: runner checkpoints under torch's safe unpickler, and foreign
files.

torch >= 2.6 loads with ``weights_only=True`` by default, and MMEngine 0.10.7
calls ``torch.load`` without saying otherwise. A Runner checkpoint holds a
message hub with ``HistoryBuffer`` objects and numpy arrays and scalars, which
the safe unpickler refuses. :func:`install_safe_globals` allow-lists exactly
those types, so ``tools/test.py CKPT``, ``--resume`` and ``load_from`` work
while safe loading stays on. On an older torch, which unpickles anything by
default (and before 2.4 has no allow-list), it does nothing. Files that come
from elsewhere (the converter's inputs) go through :func:`load_foreign`, which
asks for ``weights_only=True`` wherever torch offers the argument.

A truncated or corrupt file makes torch say
``PytorchStreamReader failed reading zip archive: failed finding central
directory``, which names no file.
:func:`check_checkpoint_file` (run by ``tools/test.py`` and
``tools/train.py --resume`` before anything is built) and
:func:`install_checkpoint_check` (MMEngine's loader of local files, so
``load_from``, ``resume=True`` and ``Pretrained`` init too) end such a load
with one line that names the file and what is wrong with it.

``HistoryBuffer`` pickles references to its statistics methods through
``getattr(HistoryBuffer, 'mean')``. Allow-listing the real ``getattr`` would
let a crafted file reach any attribute of any allowed object, so a stand-in
registered under the name ``builtins.getattr`` resolves only those methods.
"""
import importlib
import inspect
import os.path as osp
import pickle
import re
import warnings
import zipfile
from typing import Any, Callable, List, Optional, Tuple

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
        f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: '
        f'only HistoryBuffer statistics methods '
        f'{sorted(HISTORY_BUFFER_METHODS)} are allowed')


def _numpy_globals() -> List[Any]:
    # numpy 2 moved numpy.core to numpy._core; numpy 1.26 has both names, but
    # its numpy._core only fills in once imported, so import the module by name
    multiarray = importlib.import_module('numpy._core.multiarray')
    dtype_classes = [
        cls for cls in vars(np.dtypes).values()
        if isinstance(cls, type) and issubclass(cls, np.dtype)
    ]
    return [
        multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
        *dtype_classes
    ]


def safe_globals() -> List[Any]:
    """The globals that MMEngine runner checkpoints need, for
    ``add_safe_globals``."""
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
    """Whether this torch's ``torch.load`` uses ``weights_only=True`` by
    default (torch >= 2.6) and has the allow-list to go with it."""
    return torch_version(torch.__version__) >= (2, 6) and hasattr(
        torch.serialization, 'add_safe_globals')


def install_safe_globals() -> bool:
    """Allow-list the runner checkpoint types for
    ``torch.load(weights_only=True)``.

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

    A torch too old to offer the argument (< 1.13) loads it the unsafe way,
    with a warning.

    Args:
        path (str): The file.
        map_location (str): Where to put the tensors. Default: 'cpu'.
    """
    if 'weights_only' in inspect.signature(torch.load).parameters:
        return torch.load(path, map_location=map_location, weights_only=True)
    warnings.warn(f'torch {torch.__version__} cannot restrict unpickling to '
                  f'weights; loading {path} the unsafe way')
    return torch.load(path, map_location=map_location)


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file is truncated or corrupt; the message names the
    file."""


def checkpoint_problem(path: str) -> Optional[str]:
    """What makes ``path`` unreadable as a torch checkpoint, or None.

    A zip-format file (torch >= 1.6) must have its central directory (a
    truncated copy loses it) and every member must match its CRC-32 (this
    reads the whole file once). A legacy (pickle) file is only checked for its
    first byte.

    Args:
        path (str): An existing file.

    Returns:
        str | None: A phrase such as ``'is truncated: ...'`` or None when the
        file reads whole.
    """
    size = osp.getsize(path)
    if size == 0:
        return 'is truncated or corrupt: it is empty (0 bytes)'
    with open(path, 'rb') as f:
        head = f.read(4)
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
            return f'is corrupt: its zip archive cannot be read ({error})'
        if bad is not None:
            return f'is corrupt: its member {bad} fails its CRC-32 check'
        return None
    if head.startswith(b'PK'):
        return (f'is truncated: a zip archive of {size:,} bytes without its '
                f'central directory (the end of the file is missing)')
    if head[:1] != b'\x80':  # every pickle protocol >= 2 starts so
        return ('is truncated or corrupt: neither a zip archive nor a pickle '
                '(the two formats of torch.save)')
    return None


def check_checkpoint_file(path: str) -> str:
    """Fail with one line naming ``path`` if it is missing, truncated or
    corrupt.

    Args:
        path (str): A local checkpoint file.

    Returns:
        str: ``path``.

    Raises:
        FileNotFoundError: if there is no such file.
        CorruptCheckpointError: if :func:`checkpoint_problem` finds a problem.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} does not exist')
    problem = checkpoint_problem(path)
    if problem is not None:
        raise CorruptCheckpointError(
            f'checkpoint {path!r} {problem}; download or save it again')
    return path


def _refused_by_weights_only(error: BaseException) -> bool:
    """torch's safe unpickler refused a type: the file is whole, not
    corrupt."""
    return 'Weights only load failed' in str(error)


def diagnose_load_error(path: str, error: BaseException) -> None:
    """Raise :class:`CorruptCheckpointError` if ``error``, raised while
    loading ``path``, comes from a truncated or corrupt file; else return.

    Args:
        path (str): The file being loaded.
        error (BaseException): What the loader raised.
    """
    if _refused_by_weights_only(error) or not osp.isfile(path):
        return
    problem = checkpoint_problem(path)
    if problem is None and isinstance(error,
                                      (EOFError, pickle.UnpicklingError)):
        problem = ('is truncated or corrupt: its pickle data ends early or is '
                   'garbled')
    if problem is None:
        return
    reason = str(error).strip().splitlines()
    reason = f' (torch: {reason[0]})' if reason else ''
    raise CorruptCheckpointError(
        f'checkpoint {path!r} {problem}{reason}; download or save it again') \
        from None


def checked_loader(load: Callable) -> Callable:
    """Wrap an MMEngine checkpoint loader ``load(filename, map_location)`` so
    that a truncated or corrupt local file ends with one line naming it."""

    def load_checked(filename, map_location=None):
        try:
            return load(filename, map_location)
        except Exception as error:
            diagnose_load_error(osp.expanduser(filename), error)
            raise

    load_checked.rla_mm_checked = True
    load_checked.__wrapped__ = load
    load_checked.__doc__ = load.__doc__
    return load_checked


def install_checkpoint_check() -> bool:
    """Put :func:`checked_loader` around MMEngine's loader of local files.

    ``Runner.load_checkpoint`` / ``resume``, ``load_checkpoint`` and the
    ``Pretrained`` initialiser all read local files through it. Loading a
    whole file is unchanged (the check runs only after a failure).

    Returns:
        bool: True if installed now; False if it was already in place.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    local = CheckpointLoader._schemes['']
    if getattr(local, 'rla_mm_checked', False):
        return False
    CheckpointLoader.register_scheme('', checked_loader(local), force=True)
    return True
