"""Export an rla_mm classifier or detector to ONNX, and check it against
PyTorch.

Writes OUT_DIR/model.onnx (two-stage detectors also roi_bbox_head.onnx and, for
Mask R-CNN, roi_mask_head.onnx), OUT_DIR/export.json and OUT_DIR/export.md
(inputs, outputs, opset, the pre-processing the graphs expect). With
``--verify``, runs PyTorch and ONNX Runtime (CPU) on each image and compares:
classifier logits, or detections matched one to one; exits with status 1 when a
tolerance breaks. See docs/deploy.md for the route each model takes.

Usage:
    python tools/deployment/export_onnx.py CONFIG [CHECKPOINT] --out-dir DIR
        [--verify IMAGE [IMAGE ...]] [--shape H W] [--score-thr T]
        [--cfg-options k=v ...]
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

from rla_mm.deployment.deploy import deploy
from rla_mm.deployment.export import format_report


def resolve_config(config: str) -> str:
    """A config file, or the name of one of rla_mm's configs."""
    if osp.isfile(config):
        return config
    from rla_mm.configs import get_config_path
    return get_config_path(config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file or rla_mm config name')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='checkpoint to export '
        '(default: the weights as initialised)')
    parser.add_argument(
        '--out-dir', required=True, help='folder for the files')
    parser.add_argument(
        '--verify',
        nargs='+',
        metavar='IMAGE',
        default=[],
        help='images to compare PyTorch and ONNX Runtime on')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        default=(224, 224),
        help='tracing input size (default '
        '224 224; the graphs take any size)')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=None,
        help="detections compared above this score (default: "
        "the config's test score_thr)")
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries')
    args = parser.parse_args(argv)
    if min(args.shape) < 32:
        parser.error(f'--shape must be >= 32 32, got {args.shape}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    report = deploy(
        resolve_config(args.config),
        args.out_dir,
        args.checkpoint,
        images=args.verify,
        shape=args.shape,
        cfg_options=args.cfg_options,
        score_thr=args.score_thr)
    print(format_report(report))
    print(
        f'wrote {", ".join(g["file"] for g in report["graphs"])}, export.json '
        f'and export.md to {args.out_dir}')
    verify = report.get('verify')
    if verify and not verify['ok']:
        print(
            'check against PyTorch FAILED:\n  ' +
            '\n  '.join(verify['problems']),
            file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
