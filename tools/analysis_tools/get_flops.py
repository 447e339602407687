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
* Segmentation configs (MMSegmentation, ``rla_mm[seg]``): backbone, neck and
  decode head (``model(x, mode='tensor')``, as MMSegmentation's own
  get_flops.py counts them), at 512x1024 by default; the auxiliary head, which
  only trains, is not counted. Parameters are those of the whole segmentor and
  of the counted part.

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
    """What is counted: the classifier's logits, a detector's features or a
    segmentor's decode-head logits."""

    def __init__(self, model: nn.Module, detector: bool):
        super().__init__()
        self.model = model
        self.detector = detector

    def forward(self, x: torch.Tensor):
        if self.detector:
            return self.model.extract_feat(x)
        return self.model(x, mode='tensor')


def counted_modules(model: nn.Module, library: str) -> nn.Module:
    """The part of ``model`` that :func:`count` runs: all of a classifier, a
    detector's backbone and neck, a segmentor's backbone, neck and decode
    head."""
    if library == 'mmpretrain':
        return model
    parts = ['backbone', 'neck']
    if library == 'mmseg':
        parts.append('decode_head')
    return nn.ModuleList(
        getattr(model, p) for p in parts
        if getattr(model, p, None) is not None)


def build_model(config: str):
    """Build the model of ``config`` in eval mode.

    Returns (model, library, default input (H, W)): 800x1333 for detectors,
    512x1024 for segmentors, 32x32 for CIFAR classifiers, 224x224 for the
    others.
    """
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import rla_mm  # noqa: F401  (registers the backbones)
    from rla_mm.configs import config_library, find_config
    from rla_mm.utils.libraries import require_libraries
    path = find_config(config)
    require_libraries(path)  # an optional library missing: one line
    cfg = Config.fromfile(path)
    library = config_library(cfg)
    init_default_scope(library)
    if library == 'mmdet':
        from mmdet.registry import MODELS
    elif library == 'mmseg':
        from mmseg.registry import MODELS
        cfg.model.pop('pretrained', None)  # counting needs no weights
    else:
        from mmpretrain.registry import MODELS
    backbone = cfg.model.get('backbone', {})
    if isinstance(backbone.get('init_cfg'), dict) and \
            backbone['init_cfg'].get('type') == 'Pretrained':
        backbone.pop('init_cfg')  # counting needs no weights
    model = MODELS.build(cfg.model).eval()
    test_data = cfg.get('test_dataloader', {}).get('dataset', {})
    if library == 'mmdet':
        shape = (800, 1333)
    elif library == 'mmseg':
        shape = (512, 1024)
    elif 'CIFAR' in str(test_data.get('type', '')):
        shape = (32, 32)
    else:
        shape = (224, 224)
    return model, library, shape


def count(config: str, shape: Optional[Sequence[int]] = None) -> Dict:
    """Count parameters and FLOPs of one config.

    Args:
        config (str): Config file path.
        shape (Sequence[int], optional): Input (H, W); default 800x1333 for
            detection, 512x1024 for segmentation, 32x32 for CIFAR and 224x224
            for other classifiers.
    """
    from mmengine.analysis import FlopAnalyzer, get_model_complexity_info
    from mmengine.logging import MMLogger
    model, library, default_shape = build_model(config)
    detector = library == 'mmdet'
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
    counted = counted_modules(model, library)
    conv_linear = sum(v for k, v in by_op.items() if k in CONV_LINEAR)
    return dict(
        config=osp.basename(config),
        detector=detector,
        segmentor=library == 'mmseg',
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
    if r.get('segmentor'):
        what = 'backbone + neck + decode head'
    lines = [
        f"{r['config']} ({what}, input {r['shape'][0]}x{r['shape'][1]})",
        f"  params: {r['params']:,} = {r['params'] / 1e6:.2f}M decimal = "
        f"{r['params'] / m:.2f}M paper unit (2^20)"
    ]
    if r['detector'] or r.get('segmentor'):
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
        help='input size (default: 800 1333 for detectors, 512 1024 for '
        'segmentors, 32 32 for CIFAR classifiers, 224 224 for the others)')
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
