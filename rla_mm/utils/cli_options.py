"""Command-line options and config loading shared by tools/train.py and
tools/test.py."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction

from .libraries import require_libraries


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Options that tools/train.py and tools/test.py share.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
    """
    parser.add_argument('--work-dir', help='where to save logs and results')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. train_cfg.max_epochs=1')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(config: str, args: argparse.Namespace) -> Config:
    """Load ``config`` and apply the shared command-line options.

    Args:
        config (str): Config file path.
        args (argparse.Namespace): Parsed arguments of :func:`add_common_args`.
    """
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    require_libraries(config)  # an optional library missing: one line
    cfg = Config.fromfile(config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    return cfg
