"""Safe loading of the checkpoints that MMEngine runners write.

torch >= 2.6 loads with ``weights_only=True`` by default, and MMEngine 0.10.7 calls
``torch.load`` without saying otherwise. A Runner checkpoint holds a message hub with
``HistoryBuffer`` objects and numpy arrays and scalars, which the safe unpickler
refuses. :func:`install_safe_globals` allow-lists exactly those types, so
``tools/test.py CKPT``, ``--resume`` and ``load_from`` work while safe loading stays on.

``HistoryBuffer`` pickles references to its statistics methods through
``getattr(HistoryBuffer, 'mean')``. Allow-listing the real ``getattr`` would let a
crafted file reach any attribute of any allowed object, so a stand-in registered
under the name ``builtins.getattr`` resolves only those methods.
"""
import os.path as osp
import pickle
from typing import Any, List, Optional

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
    core = getattr(np, '_core', None) or np.core
    dtype_classes = [
        cls for cls in vars(np.dtypes).values()
        if isinstance(cls, type) and issubclass(cls, np.dtype)
    ]
    return [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray,
            np.dtype, *dtype_classes]


def safe_globals() -> List[Any]:
    """The globals that MMEngine runner checkpoints need, for ``add_safe_globals``."""
    import _codecs
    return [
        HistoryBuffer, _codecs.encode, *_numpy_globals(),
        (history_buffer_getattr, 'builtins.getattr')
    ]


def install_safe_globals() -> None:
    """Allow-list the runner checkpoint types for ``torch.load(weights_only=True)``."""
    torch.serialization.add_safe_globals(safe_globals())


def check_pretrained_file(init_cfg: Optional[dict]) -> None:
    """Fail early, and helpfully, when a local ``Pretrained`` checkpoint is missing.

    Args:
        init_cfg (dict, optional): A backbone's ``init_cfg``.

    Raises:
        FileNotFoundError: naming the file and the converter command.
    """
    if not isinstance(init_cfg, dict) or init_cfg.get('type') != 'Pretrained':
        return
    path = init_cfg.get('checkpoint') or ''
    if '://' in path or osp.isfile(path):
        return
    raise FileNotFoundError(
        f'pretrained backbone checkpoint {path!r} does not exist. Convert the '
        f"paper's ImageNet weights with\n  python tools/model_converters/"
        f'rlanet_to_rla_mm.py SRC.pth.tar {path}\n(see README.md, "ImageNet '
        f'weights"), or train from scratch with --cfg-options '
        f'model.backbone.init_cfg=None')
