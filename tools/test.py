"""Evaluate a checkpoint: COCO metrics for detectors, accuracy for
classifiers, mIoU for segmentors (MMSegmentation, ``rla_mm[seg]``).

Usage:
    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
        [--show-dir DIR] [--metrics-out metrics.json] [--tta]
        [--cfg-options k=v ...] [--launcher pytorch]

``--out`` writes what MMDetection's and MMPretrain's analysis tools read
(``analyze_results.py``, ``confusion_matrix.py``); ``--tta`` tests with the
config's ``tta_model`` / ``tta_pipeline``, or the library's default flip TTA.
"""
# first: env_check says what to do when torch is missing
import env_check  # noqa: F401 isort: skip

import argparse
import copy
import json
import os
import os.path as osp

from mmengine.config import Config, ConfigDict
from mmengine.dist import is_main_process
from mmengine.runner import Runner

import rla_mm  # noqa: F401  (registers the backbones, allow-lists checkpoints)
from rla_mm.configs import config_library, is_detector_config
from rla_mm.safe_loading import check_checkpoint_file
from rla_mm.utils.cli_options import add_common_args, load_config
from rla_mm.utils.cpu_distributed import (finish_distributed,
                                          prepare_distributed)
from rla_mm.utils.dataset_check import check_dataset_files


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out',
        help='dump predictions to a pickle file (detection: '
        "MMDetection's format, masks as RLE)")
    parser.add_argument(
        '--show-dir',
        help='save pictures of predictions under '
        'WORK_DIR/TIMESTAMP/SHOW_DIR (detection), or under SHOW_DIR '
        '(segmentation)')
    parser.add_argument(
        '--metrics-out',
        help='write the metrics, the parameter count and '
        'the checkpoint path to this JSON file')
    parser.add_argument(
        '--tta',
        action='store_true',
        help="test-time augmentation: the config's tta_model and "
        "tta_pipeline, else MMDetection's (or MMPretrain's) default: the "
        'image and its horizontal flip, merged')
    add_common_args(parser)
    return parser.parse_args(argv)


def enable_tta(cfg: Config) -> None:
    """Wrap the model in ``cfg.tta_model`` and test on ``cfg.tta_pipeline``.

    Without them, the defaults of MMDetection's and MMPretrain's own
    ``tools/test.py --tta``: the test pipeline with its last step (packing)
    run on the image flipped and as it is; ``DetTTAModel`` (NMS at IoU 0.5,
    100 boxes), ``AverageClsScoreTTA`` or MMSegmentation's ``SegTTAModel``
    (mean of the class scores) merges the two predictions.
    """
    detector = is_detector_config(cfg)
    library = config_library(cfg)
    if detector and cfg.model.get('roi_head', {}).get('mask_head'):
        # mmdet 3.3 DetTTAModel asserts 'TTA of instance segmentation does
        # not support now' after the whole test set has run
        raise ValueError(
            "--tta: MMDetection's DetTTAModel merges boxes only, and this "
            'config predicts masks; test the boxes with --tta --cfg-options '
            'model.roi_head.mask_head=None test_evaluator.metric=bbox')
    if 'tta_model' not in cfg and library == 'mmseg':
        cfg.tta_model = dict(type='SegTTAModel')
    elif 'tta_model' not in cfg:
        cfg.tta_model = dict(
            type='DetTTAModel',
            tta_cfg=dict(
                nms=dict(type='nms', iou_threshold=0.5),
                max_per_img=100)) if detector else dict(
                    type='mmpretrain.AverageClsScoreTTA')
    if 'tta_pipeline' not in cfg:
        dataset = cfg.test_dataloader.dataset
        while 'dataset' in dataset:  # dataset wrappers
            dataset = dataset.dataset
        pipeline = copy.deepcopy(dataset.pipeline)
        pack = pipeline[-1]
        if 'meta_keys' in pack:  # the merge un-flips the boxes
            pack.meta_keys = tuple(pack.meta_keys) + tuple(
                k
                for k in ('flip', 'flip_direction') if k not in pack.meta_keys)
        pipeline[-1] = dict(
            type='TestTimeAug',
            transforms=[[
                dict(type='RandomFlip', prob=1.),
                dict(type='RandomFlip', prob=0.)
            ], [pack]])
        cfg.tta_pipeline = pipeline
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def enable_visualization(cfg: Config, show_dir: str) -> None:
    """Turn on the visualization hook to write prediction pictures."""
    hooks = cfg.default_hooks
    if 'visualization' not in hooks:
        raise KeyError('--show-dir needs default_hooks.visualization in the '
                       'config (MMDetection and MMSegmentation configs have '
                       'it)')
    hooks.visualization.draw = True
    if config_library(cfg) == 'mmseg':
        # MMSegmentation's hook has no folder of its own: its visualizer
        # writes under save_dir (what MMSegmentation's tools/test.py sets)
        cfg.visualizer.save_dir = show_dir
    else:
        hooks.visualization.test_out_dir = show_dir


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(
            f'checkpoint {args.checkpoint!r} does not exist')
    if args.metrics_out is not None and not args.metrics_out.endswith('.json'):
        raise ValueError(
            f'--metrics-out must end with .json, got {args.metrics_out!r}')
    check_checkpoint_file(args.checkpoint)  # truncated or corrupt: one line
    cfg = load_config(args.config, args)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        enable_visualization(cfg, args.show_dir)
    if args.tta:
        enable_tta(cfg)
    check_dataset_files(cfg, splits=('test_dataloader', ))
    prepare_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(
                f'--out must end with .pkl or .pickle, got {args.out!r}')
        if is_detector_config(cfg):  # masks as RLE, no ground truth
            from mmdet.evaluation import DumpDetResults as DumpResults
        else:
            from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
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
        metrics={
            k: float(v)
            for k, v in metrics.items()
        })
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(record, f, indent=2)


if __name__ == '__main__':
    main()
    finish_distributed()
