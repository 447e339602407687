"""Check rla_mm on a CUDA machine, in one command.

Checks, each reported as ``ok`` or ``FAILED`` with the reason:

* backbones: every RLA backbone registered by rla_mm, in the full-size cases of
  ``rla_mm/testing/backbone_cases.py``, forward and backward, in fp32, under
  autocast fp16 and bf16, and in channels_last. Outputs and gradients must be
  finite; autocast and channels_last outputs must agree with fp32 (the relative
  L2 error over all outputs) within ``rla_mm.testing.gpu_checks.TOLERANCE``, or
  within four times the error of the same network without RLA. TF32 is switched
  off for these comparisons, so fp32 means fp32. These need only mmcv-lite (no
  compiled ops); the other checks need mmcv with ops and MMDetection.
* train: a few training iterations of the 1x Faster R-CNN and Mask R-CNN
  RLA-ResNet-50 configs with ``--amp`` on a small generated digits COCO set
  (``tools/train.py``, one GPU).
* syncbn: the Faster R-CNN config with ``norm_cfg=dict(type='SyncBN')`` in the
  backbone, built and trained for a step through ``tools/dist_train.sh`` (NCCL,
  one process).
* benchmark: ``benchmark.py --device cuda``, RLA-ResNet-50 against ResNet-50.

The checks themselves live in ``rla_mm.testing.gpu_checks``; ``tests/cuda``
runs the same ones as pytest tests.

Exits 1 with the list of failed checks. On a machine without CUDA it prints
that it skipped and exits 0. ``--device cpu`` runs the backbone checks on the
CPU (for testing this tool; the training checks need CUDA).

Usage:
    python tools/analysis_tools/gpu_check.py [--device cuda:0]
        [--checks backbones train syncbn benchmark] [--backbones NAME ...]
        [--side N] [--out gpu_check.md]
"""
import argparse
import os.path as osp
import sys
import tempfile
import time
import traceback
from typing import Callable, List, Sequence, Tuple

import torch

from rla_mm.testing import gpu_checks

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO_ROOT, 'tools')
CHECKS = ('backbones', 'train', 'syncbn', 'benchmark')
DETECTORS = ('faster_rcnn_rla_r50_fpn_1x_coco.py',
             'mask_rcnn_rla_r50_fpn_1x_coco.py')


def run_checks(
    checks: Sequence[Tuple[str, Callable[[], str]]]
) -> List[Tuple[str, bool, str, float]]:
    """Run every check; a failure is recorded, never stops the others."""
    results = []
    for name, fn in checks:
        start = time.perf_counter()
        try:
            ok, detail = True, fn() or ''
        except Exception as err:  # report every kind of failure, then go on
            ok = False
            detail = f'{type(err).__name__}: {err}'
            if not isinstance(err, AssertionError):
                detail += '\n' + traceback.format_exc(limit=3)
        seconds = time.perf_counter() - start
        print(
            f"[{'ok' if ok else 'FAILED'}] {name} ({seconds:.1f} s)" +
            (f': {detail}' if detail else ''),
            flush=True)
        results.append((name, ok, detail, seconds))
    return results


def report(results, device: torch.device) -> str:
    lines = [
        f'# rla_mm GPU check: {device_name(device)}', '',
        f'torch {torch.__version__}, CUDA {torch.version.cuda}, '
        f'arch list {" ".join(arch_list())}', '',
        '| check | result | seconds | detail |', '|---|---|---|---|'
    ]
    for name, ok, detail, seconds in results:
        first = detail.splitlines()[0] if detail else ''
        lines.append(f"| {name} | {'ok' if ok else 'FAILED'} | {seconds:.1f} "
                     f'| {first} |')
    return '\n'.join(lines) + '\n'


def device_name(device: torch.device) -> str:
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return 'CPU'


def arch_list() -> List[str]:
    get = getattr(torch._C, '_cuda_getArchFlags', None)
    return (get() or '').split() if get else []


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--device',
        default='cuda',
        help="'cuda[:i]', or 'cpu' for the backbone checks")
    parser.add_argument(
        '--checks', nargs='+', choices=CHECKS, default=list(CHECKS))
    parser.add_argument(
        '--backbones',
        nargs='+',
        metavar='NAME',
        help='only these registered backbones (default: all)')
    parser.add_argument(
        '--side',
        type=int,
        metavar='N',
        help='input side of every backbone case (default: each '
        "case's own; smaller is faster)")
    parser.add_argument('--out', help='also write the report (Markdown) here')
    parser.add_argument(
        '--work-dir',
        help='where the training checks write '
        '(default: a temporary folder)')
    args = parser.parse_args(argv)
    args.device = torch.device(args.device)
    if args.device.type == 'cpu' and set(args.checks) - {'backbones'}:
        parser.error('--device cpu runs only --checks backbones; the '
                     f'others need CUDA, got {args.checks}')
    if args.side is not None and args.side < 16:
        parser.error(f'--side must be >= 16, got {args.side}')
    if args.backbones:
        registered = gpu_checks.registered_backbones()
        unknown = sorted(set(args.backbones) - set(registered))
        if unknown:
            parser.error(
                f'--backbones: unknown {unknown}, expected registered '
                f'backbones {sorted(registered)}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device.type == 'cuda' and not torch.cuda.is_available():
        print(
            'gpu_check: skipped: no CUDA device (torch.cuda.is_available() is '
            f'False; torch {torch.__version__}, built for CUDA '
            f'{torch.version.cuda}). Nothing was checked.')
        return 0
    work = args.work_dir or tempfile.mkdtemp(prefix='rla_mm_gpu_check_')
    checks = []
    if 'backbones' in args.checks:
        checks += gpu_checks.backbone_checks(args.device, args.backbones,
                                             args.side)
    if 'train' in args.checks:
        checks += [(f'train {c} --amp',
                    lambda c=c: gpu_checks.train_check(TOOLS, c, work))
                   for c in DETECTORS]
    if 'syncbn' in args.checks:
        checks.append(('syncbn faster_rcnn_rla_r50',
                       lambda: gpu_checks.syncbn_check(TOOLS, work)))
    if 'benchmark' in args.checks:
        checks.append(
            ('benchmark RLA-ResNet-50 / ResNet-50', lambda: gpu_checks.
             benchmark_check(TOOLS, args.device,
                             ['--out', osp.join(work, 'benchmark.md')])))
    results = run_checks(checks)
    text = report(results, args.device)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)
    failed = [name for name, ok, _, _ in results if not ok]
    print(f'gpu_check: {len(results) - len(failed)} passed, {len(failed)} '
          'failed' + (''.join(f'\n  FAILED: {n}' for n in failed)))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
