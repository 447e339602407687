"""Parameters and FLOPs of rla_mm configs through MMEngine's complexity
counter.

The counter (``mmengine.analysis.get_model_complexity_info``, fvcore's
jit-trace counter) counts one multiply-accumulate as one FLOP, in convolutions
and linear layers, plus 2 per element of an eval-mode affine batch norm
(1 without affine), 1 per input element of adaptive average pooling and a few
other listed ops (upsampling, group/layer norm). It ignores element-wise work
(additions, ReLU, tanh) and plain pooling. The paper's FLOPs column is thop's
MAC count divided by 1024^3 and its Params column the parameter count divided
by 1024^2 (a plain ResNet-50, 25,557,032 parameters, prints as 24.37M in the
paper's tables); both units are printed.

* Classification configs: the whole classifier, ``model(x, mode='tensor')``.
* Detection configs: backbone and neck (``model.extract_feat``); the heads of
  two-stage detectors depend on the proposals, so they are not counted.
  Parameters are those of the whole detector and of the counted part.

Usage:
    python tools/analysis_tools/get_flops.py CONFIG [CONFIG ...] [--shape H W]
    mim run rla_mm get_flops CONFIG [--shape H W] (CONFIG may be a config name)
    python tools/analysis_tools/get_flops.py --all --out docs/complexity.md
"""
# first: env_check says what to do when torch is missing
import env_check  # noqa: F401 isort: skip

import argparse
import glob
import logging
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn

CONV_LINEAR = ('conv', 'linear', 'addmm', 'matmul', 'mm', 'bmm', 'einsum')


class _Traced(nn.Module):
    """What is counted: the classifier's logits or a detector's features."""

    def __init__(self, model: nn.Module, detector: bool):
        super().__init__()
        self.model = model
        self.detector = detector

    def forward(self, x: torch.Tensor):
        if self.detector:
            return self.model.extract_feat(x)
        return self.model(x, mode='tensor')


def build_model(config: str):
    """Build the model of ``config`` in eval mode.

    Returns (model, is_detector, default input (H, W)): 800x1333 for detectors,
    32x32 for CIFAR classifiers, 224x224 for the others.
    """
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import rla_mm  # noqa: F401  (registers the backbones)
    from rla_mm.configs import find_config, is_detector_config
    cfg = Config.fromfile(find_config(config))
    detector = is_detector_config(cfg)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    if detector:
        from mmdet.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    backbone = cfg.model.get('backbone', {})
    if isinstance(backbone.get('init_cfg'), dict) and \
            backbone['init_cfg'].get('type') == 'Pretrained':
        backbone.pop('init_cfg')  # counting needs no weights
    model = MODELS.build(cfg.model).eval()
    test_data = cfg.get('test_dataloader', {}).get('dataset', {})
    if detector:
        shape = (800, 1333)
    elif 'CIFAR' in str(test_data.get('type', '')):
        shape = (32, 32)
    else:
        shape = (224, 224)
    return model, detector, shape


def count(config: str, shape: Optional[Sequence[int]] = None) -> Dict:
    """Count parameters and FLOPs of one config.

    Args:
        config (str): Config file path.
        shape (Sequence[int], optional): Input (H, W); default 800x1333 for
            detection, 32x32 for CIFAR and 224x224 for other classifiers.
    """
    from mmengine.analysis import FlopAnalyzer, get_model_complexity_info
    from mmengine.logging import MMLogger
    model, detector, default_shape = build_model(config)
    if shape is None:
        shape = default_shape
    if len(shape) != 2 or any(int(s) < 1 for s in shape):
        raise ValueError(f'shape must be two positive ints (H W), got {shape}')
    traced = _Traced(model, detector)
    x = torch.randn(1, 3, *shape)
    logger = MMLogger.get_current_instance()
    level = logger.level
    # the counter logs every op it does not count (listed in the docstring)
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter('ignore')  # jit tracer warnings
            info = get_model_complexity_info(
                traced, inputs=(x, ), show_table=False, show_arch=False)
            by_op = FlopAnalyzer(traced, (x, )).by_operator()
    finally:
        logger.setLevel(level)
    counted = model if not detector else nn.ModuleList([model.backbone] + (
        [model.neck] if getattr(model, 'neck', None) else []))
    conv_linear = sum(v for k, v in by_op.items() if k in CONV_LINEAR)
    return dict(
        config=osp.basename(config),
        detector=detector,
        shape=tuple(shape),
        flops=info['flops'],
        params=info['params'],
        counted_params=sum(p.numel() for p in counted.parameters()),
        conv_linear=conv_linear,
        norm=by_op.get('batch_norm', 0),
        by_operator=dict(by_op))


def format_row(r: Dict) -> str:
    """One result as readable lines, in decimal and in the paper's units."""
    g, m = 1024**3, 1024**2
    what = 'backbone + neck' if r['detector'] else 'classifier'
    lines = [
        f"{r['config']} ({what}, input {r['shape'][0]}x{r['shape'][1]})",
        f"  params: {r['params']:,} = {r['params'] / 1e6:.2f}M decimal = "
        f"{r['params'] / m:.2f}M paper unit (2^20)"
    ]
    if r['detector']:
        lines.append(f"  counted part's params: {r['counted_params']:,}")
    lines.append(f"  FLOPs (MACs): {r['flops'] / 1e9:.3f}G decimal = "
                 f"{r['flops'] / g:.3f}G paper unit (2^30)")
    ops = ', '.join(
        f'{k} {v / 1e9:.3f}G'
        for k, v in sorted(r['by_operator'].items(), key=lambda kv: -kv[1]))
    lines.append(f'  by operator (decimal): {ops}')
    return '\n'.join(lines)


def markdown(results: List[Dict]) -> str:
    """The complexity table of docs/complexity.md."""
    from rla_mm.configs import load_metafile, paper_figure
    g, m = 1024**3, 1024**2
    meta = {name: model['Metadata'] for name, model in load_metafile().items()}
    rows = [
        '| config | input | params | params (2^20) | paper Params | '
        'FLOPs (10^9) | FLOPs (2^30) | conv+linear only (2^30) | '
        'paper FLOPs | off |', '|---|---|---|---|---|---|---|---|---|---|'
    ]
    for r in results:
        facts = meta.get(r['config'], {})
        p_params = paper_figure(facts.get('Paper Params'))
        p_flops = paper_figure(facts.get('Paper FLOPs'))
        p_params = p_params and p_params / m
        p_flops = p_flops and p_flops / g
        ours = r['flops'] / g
        off = f'{(ours / p_flops - 1) * 100:+.1f}%' if p_flops else ''
        what = ' (backbone+neck)' if r['detector'] else ''
        rows.append(
            f"| `{r['config']}`{what} | {r['shape'][0]}x{r['shape'][1]} | "
            f"{r['params']:,} | {r['params'] / m:.2f}M | "
            f"{f'{p_params:.2f}M' if p_params else '—'} | "
            f"{r['flops'] / 1e9:.3f} | {ours:.3f} | "
            f"{r['conv_linear'] / g:.3f} | "
            f"{f'{p_flops:.3f}' if p_flops else '—'} | {off} |")
    return '\n'.join(rows) + '\n'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        'configs',
        nargs='*',
        help='config files, or names of rla_mm configs '
        '(e.g. retinanet_rla_r50_fpn_1x_coco.py)')
    parser.add_argument(
        '--all',
        action='store_true',
        help='every config under configs/ (not _base_/ or demo/)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='input size (default: 800 1333 for detectors, 32 32 for '
        'CIFAR classifiers, 224 224 for the others)')
    parser.add_argument(
        '--out',
        help='write the table into this Markdown file '
        '(between <!-- complexity:begin/end --> markers)')
    args = parser.parse_args(argv)
    if args.all:
        from rla_mm.configs import configs_dir
        args.configs += sorted(glob.glob(osp.join(configs_dir(), '*.py')))
    if not args.configs:
        parser.error('give at least one CONFIG, or --all')
    if args.shape and any(s < 1 for s in args.shape):
        parser.error(f'--shape must be positive, got {args.shape}')
    return args


def main(argv=None) -> List[Dict]:
    args = parse_args(argv)
    results = []
    for config in args.configs:
        r = count(config, args.shape)
        print(format_row(r), flush=True)
        results.append(r)
    if args.out:
        from rla_mm.utils.markdown_block import replace_block
        replace_block(args.out, 'complexity', markdown(results))
        print(f'wrote {args.out}')
    return results


if __name__ == '__main__':
    main()
