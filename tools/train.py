"""Train a detector or classifier from an rla_mm (or any MMEngine) config.

The config's ``default_scope`` (mmdet or mmpretrain) decides which library runs
it.
Usage:
    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--auto-scale-lr] [--cfg-options k=v ...] [--launcher pytorch]
"""
# first: env_check says what to do when torch is missing
import env_check  # noqa: F401 isort: skip

import argparse
import logging

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

import rla_mm  # noqa: F401  (registers the backbones, allow-lists checkpoints)
from rla_mm.safe_loading import check_checkpoint_file
from rla_mm.utils.cli_options import add_common_args, load_config
from rla_mm.utils.cpu_distributed import (finish_distributed,
                                          prepare_distributed)
from rla_mm.utils.dataset_check import check_dataset_files


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from CKPT, or from the latest checkpoint in the work dir '
        'when no CKPT is given')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision (GPU)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by (GPUs x batch per GPU) / '
        'auto_scale_lr.base_batch_size')
    add_common_args(parser)
    return parser.parse_args(argv)


def build_cfg(args) -> Config:
    """Load the config and apply the command-line options."""
    cfg = load_config(args.config, args)
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper == 'AmpOptimWrapper':
            print_log(
                '--amp: the config already uses AmpOptimWrapper',
                logger='current',
                level=logging.WARNING)
        elif wrapper != 'OptimWrapper':
            raise ValueError(
                f'--amp switches OptimWrapper to AmpOptimWrapper; '
                f'the config uses optim_wrapper.type={wrapper!r}')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or \
                'base_batch_size' not in cfg.auto_scale_lr:
            raise KeyError(
                '--auto-scale-lr needs auto_scale_lr.base_batch_size '
                f'in the config {args.config}')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        check_checkpoint_file(args.resume)  # truncated or corrupt: one line
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = build_cfg(args)
    check_dataset_files(cfg)
    prepare_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
    finish_distributed()
