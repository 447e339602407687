"""The check that a backbone's local ``Pretrained`` checkpoint exists."""
import os.path as osp
from typing import Optional


def check_pretrained_file(init_cfg: Optional[dict]) -> None:
    """Fail early, and helpfully, when a local ``Pretrained`` checkpoint is
    missing.

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
        f"paper's ImageNet weights with\n  python -m rla_mm.convert_rlanet "
        f'SRC.pth.tar {path}\nor train from scratch with --cfg-options '
        f'model.backbone.init_cfg=None')
