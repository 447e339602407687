"""Where rla_mm's configs live, so configs outside the repository can inherit them.

    export RLA_MM_CONFIGS=$(python -m rla_mm.configs)

then, in your own config (MMEngine substitutes the variable before reading _base_)::

    _base_ = '{{$RLA_MM_CONFIGS:}}/faster_rcnn_rla_r50_fpn_1x_coco.py'

``python -m rla_mm.configs NAME`` prints the full path of one config.
"""
import os.path as osp
import sys


def data_root() -> str:
    """The folder holding ``configs/`` and ``model-index.yml``: an installed wheel's
    ``rla_mm/.mim``, or the checkout."""
    package = osp.dirname(osp.abspath(__file__))
    for root in (osp.join(package, '.mim'), osp.dirname(package)):
        if osp.isfile(osp.join(root, 'model-index.yml')) and osp.isfile(
                osp.join(root, 'configs', 'faster_rcnn_rla_r50_fpn_1x_coco.py')):
            return root
    raise FileNotFoundError(
        f'rla_mm configs not found next to {package}; reinstall rla_mm')


def configs_dir() -> str:
    """The folder of rla_mm's configs."""
    return osp.join(data_root(), 'configs')


def model_index_path() -> str:
    """rla_mm's ``model-index.yml`` (it imports ``configs/metafile.yml``)."""
    return osp.join(data_root(), 'model-index.yml')


def get_config_path(name: str) -> str:
    """Absolute path of config ``name`` (e.g. 'retinanet_rla_r50_fpn_1x_coco.py').

    Args:
        name (str): Config path relative to the configs folder.
    """
    path = osp.join(configs_dir(), name)
    if not osp.isfile(path):
        raise FileNotFoundError(f'no rla_mm config {name!r} in {configs_dir()}')
    return path


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print(get_config_path(argv[0]) if argv else configs_dir())
    return 0


if __name__ == '__main__':
    sys.exit(main())
