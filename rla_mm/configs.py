"""Where rla_mm's configs live, so configs outside the repository can inherit
them.

    export RLA_MM_CONFIGS=$(python -m rla_mm.configs)

then, in your own config (MMEngine substitutes the variable before reading
_base_)::

    _base_ = '{{$RLA_MM_CONFIGS:}}/faster_rcnn_rla_r50_fpn_1x_coco.py'

``python -m rla_mm.configs NAME`` prints the full path of one config.
"""
import os.path as osp
import sys
from typing import Dict, Optional


def data_root() -> str:
    """The folder holding ``configs/`` and ``model-index.yml``: an installed
    wheel's ``rla_mm/.mim``, or the checkout."""
    package = osp.dirname(osp.abspath(__file__))
    for root in (osp.join(package, '.mim'), osp.dirname(package)):
        if osp.isfile(osp.join(root, 'model-index.yml')) and osp.isfile(
                osp.join(root, 'configs',
                         'faster_rcnn_rla_r50_fpn_1x_coco.py')):
            return root
    raise FileNotFoundError(
        f'rla_mm configs not found next to {package}; reinstall rla_mm')


def configs_dir() -> str:
    """The folder of rla_mm's configs."""
    return osp.join(data_root(), 'configs')


# The model facts, in OpenMMLab's metafile schema; model-index.yml imports
# both.
CLS_METAFILE = 'metafile.yml'  # classifiers (MMPretrain's schema)
DET_METAFILE = 'metafile_det.yml'  # detectors (MMDetection's schema)
# the ablation models (paper Tables 6, 11, 13, 15); not in model-index.yml
ABLATION_METAFILE = 'ablation/metafile.yml'
METAFILES = (CLS_METAFILE, DET_METAFILE, ABLATION_METAFILE)


def metafile_path(name: str = CLS_METAFILE) -> str:
    """Path of one of rla_mm's metafiles (one of ``METAFILES``).

    Args:
        name (str): The metafile's name in the configs folder.
    """
    if name not in METAFILES:
        raise ValueError(f'no rla_mm metafile {name!r}; expected one of '
                         f'{list(METAFILES)}')
    return osp.join(configs_dir(), name)


def load_metafile(name: str = CLS_METAFILE) -> Dict[str, dict]:
    """The models of a metafile, the one place of the model facts, by config
    file name (e.g. 'rla_resnet50_4xb64_in1k.py').

    ``configs/metafile.yml`` (the default) holds the classifiers: each entry's
    ``Metadata`` holds ``Parameters`` (exact), ``FLOPs`` and, for the models of
    the paper's Table 3, ``Paper Params``, ``Paper FLOPs`` (as printed there,
    see :func:`paper_figure`) and ``Reference Arch`` (the authors' architecture
    name). ``configs/metafile_det.yml`` (``name=DET_METAFILE``) holds the COCO
    detectors: ``Parameters``, ``FLOPs`` (backbone and neck at 800x1333), the
    paper's AP in ``Results`` and the authors' ``Published Checkpoint`` name.
    ``configs/ablation/metafile.yml`` (``name=ABLATION_METAFILE``) holds the
    ablation models (paper Tables 6, 11, 13, 15).

    Args:
        name (str): One of ``METAFILES``.
    """
    import yaml
    with open(metafile_path(name)) as f:
        models = yaml.safe_load(f)['Models']
    return {osp.basename(m['Config']): m for m in models}


_PAPER_UNITS = {'M': 2**20, 'G': 2**30}


def paper_figure(text: Optional[str]) -> Optional[float]:
    """A figure as the paper prints it ('24.67M', '4.17G') as a plain number
    (M = 2^20, G = 2^30, the paper's units); None stays None.

    Args:
        text (str, optional): The figure with its unit letter.
    """
    if text is None:
        return None
    text = str(text)
    if text[-1:] not in _PAPER_UNITS:
        raise ValueError(f'a paper figure ends with M or G, got {text!r}')
    return float(text[:-1]) * _PAPER_UNITS[text[-1]]


def get_config_path(name: str) -> str:
    """Absolute path of config ``name`` (e.g.
    'retinanet_rla_r50_fpn_1x_coco.py').

    Args:
        name (str): Config path relative to the configs folder.
    """
    path = osp.join(configs_dir(), name)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'no rla_mm config {name!r} in {configs_dir()}')
    return path


def find_config(config: str) -> str:
    """A config file path as it is, or the path of one of rla_mm's configs by
    name (as ``mim run rla_mm get_flops NAME`` passes it).

    Args:
        config (str): A file path, or a path relative to the configs folder.
    """
    if osp.isfile(config):
        return config
    try:
        return get_config_path(config)
    except FileNotFoundError:
        raise FileNotFoundError(
            f'config file not found: {config} (neither a file nor a config '
            f'under {configs_dir()})') from None


def config_library(cfg) -> str:
    """The library that runs ``cfg``: its ``default_scope`` ('mmdet',
    'mmpretrain' or 'mmseg'), 'mmdet' when it has none.

    Args:
        cfg (mmengine.Config | dict): A loaded config.
    """
    return cfg.get('default_scope') or 'mmdet'


def is_detector_config(cfg) -> bool:
    """Whether MMDetection runs ``cfg`` (a config's ``default_scope``: 'mmdet',
    or none), not MMPretrain ('mmpretrain') or MMSegmentation ('mmseg').

    Args:
        cfg (mmengine.Config | dict): A loaded config.
    """
    return config_library(cfg) not in ('mmpretrain', 'mmseg')


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print(get_config_path(argv[0]) if argv else configs_dir())
    return 0


if __name__ == '__main__':
    sys.exit(main())
