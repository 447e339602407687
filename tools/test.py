"""Evaluate a checkpoint: COCO metrics for detectors, accuracy for classifiers.

Usage:
    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
        [--show-dir DIR] [--metrics-out metrics.json] [--cfg-options k=v ...]
        [--launcher pytorch]
"""
import env_check  # noqa: F401  (first: says what to do without torch)

import argparse
import json
import os
import os.path as osp

from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.runner import Runner

import rla_mm  # noqa: F401  (registers the backbones, allow-lists checkpoints)
from cli_options import add_common_args, load_config
from cpu_distributed import finish_distributed, prepare_distributed
from dataset_check import check_dataset_files


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump predictions to a pickle file')
    parser.add_argument(
        '--show-dir', help='save pictures of predictions under '
        'WORK_DIR/TIMESTAMP/SHOW_DIR (detection)')
    parser.add_argument(
        '--metrics-out', help='write the metrics, the parameter count and '
        'the checkpoint path to this JSON file')
    add_common_args(parser)
    return parser.parse_args(argv)


def enable_visualization(cfg: Config, show_dir: str) -> None:
    """Turn on the detection visualization hook to write prediction pictures."""
    hooks = cfg.default_hooks
    if 'visualization' not in hooks:
        raise KeyError('--show-dir needs default_hooks.visualization in the '
                       'config (MMDetection configs have it)')
    hooks.visualization.draw = True
    hooks.visualization.test_out_dir = show_dir


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} does not exist')
    if args.metrics_out is not None and not args.metrics_out.endswith('.json'):
        raise ValueError(
            f'--metrics-out must end with .json, got {args.metrics_out!r}')
    cfg = load_config(args.config, args)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        enable_visualization(cfg, args.show_dir)
    check_dataset_files(cfg, splits=('test_dataloader', ))
    prepare_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must end with .pkl or .pickle, got {args.out!r}')
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    metrics = runner.test()
    if args.metrics_out is not None and is_main_process():
        write_metrics(args.metrics_out, metrics, runner.model, args)
    return metrics


def write_metrics(path: str, metrics: dict, model, args) -> None:
    """Save the test metrics with what produced them (for comparisons)."""
    model = getattr(model, 'module', model)
    record = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        params=sum(p.numel() for p in model.parameters()),
        metrics={k: float(v) for k, v in metrics.items()})
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(record, f, indent=2)


if __name__ == '__main__':
    main()
    finish_distributed()
