"""Check rla_mm on a CUDA machine, in one command.

Checks, each reported as ``ok`` or ``FAILED`` with the reason:

* backbones: every RLA backbone registered by rla_mm, forward and backward, in
  fp32, under autocast fp16 and bf16, and in channels_last. Outputs and gradients
  must be finite; autocast and channels_last outputs must agree with fp32 (the
  relative L2 error over all outputs) within TOLERANCE, or within four times the error
  of the same network without RLA (see TOLERANCE below). TF32 is switched off
  for these comparisons, so fp32 means fp32.
* train: a few training iterations of the 1x Faster R-CNN and Mask R-CNN
  RLA-ResNet-50 configs with ``--amp`` on a small generated digits COCO set
  (``tools/train.py``, one GPU).
* syncbn: the Faster R-CNN config with ``norm_cfg=dict(type='SyncBN')`` in the
  backbone, built and trained for a step through ``tools/dist_train.sh`` (NCCL,
  one process).
* benchmark: ``benchmark.py --device cuda``, RLA-ResNet-50 against ResNet-50.

Exits 1 with the list of failed checks. On a machine without CUDA it prints that
it skipped and exits 0. ``--device cpu`` runs the backbone checks on the CPU (for
testing this tool; the training checks need CUDA).

Usage:
    python tools/analysis_tools/gpu_check.py [--device cuda:0]
        [--checks backbones train syncbn benchmark] [--out gpu_check.md]
"""
import argparse
import importlib.util
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from torch.nn.modules.batchnorm import _BatchNorm

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO_ROOT, 'tools')
CHECKS = ('backbones', 'train', 'syncbn', 'benchmark')

# Relative L2 error against the fp32 outputs (eval mode, norms calibrated on the
# input batch; see measure) that is always allowed. Above it, a case passes when
# its error is at most TWIN_FACTOR times its plain twin's (the same network
# without RLA, measured in the same run). A freshly initialised deep network
# amplifies rounding through its depth (MMPretrain's own MobileNetV2 is about
# 7e-2 off in fp16 and 4e-1 in bf16 at 224x224), and RLA's hidden state is a
# recurrence as long as the network has blocks: on the CPU, RLA-ResNet-50 is
# 3.5x ResNet-50's fp16 error (1.5e-3 against 4.3e-4) and RLA-ResNet-164 3.2x
# its plain twin's (7.0e-2 against 2.2e-2), RLA-MobileNetV2 and RLA-Xception
# 1.1x. What this check must catch is RLA parts that autocast breaks (overflow,
# non-finite values, a dtype mix-up), which is far beyond that.
TOLERANCE = {'fp16': 1e-2, 'bf16': 5e-2, 'channels_last': 1e-4}
TWIN_FACTOR = 4.0

# Constructor arguments, input side and plain twin (registry name, arguments)
# of each backbone's cases. Every backbone that rla_mm registers must have one:
# a new one fails the check until it has.
BACKBONE_CASES: Dict[str, Tuple[Tuple[dict, int, Tuple[str, dict]], ...]] = {
    'RLAResNet': (
        (dict(depth=50), 224, ('mmdet.ResNet', dict(depth=50))),
        (dict(depth=50, eca=True), 225, ('mmdet.ResNet', dict(depth=50))),
        (dict(depth=50, out_indices=(3, ), cat_hidden=True), 224,
         ('mmdet.ResNet', dict(depth=50, out_indices=(3, ))))),
    'RLAResNetV1d': ((dict(depth=50), 224, ('mmdet.ResNetV1d', dict(depth=50))), ),
    'RLAMobileNetV2': tuple(
        (kwargs, side, ('mmpretrain.MobileNetV2', dict(out_indices=(7, ))))
        for kwargs, side in ((dict(), 224), (dict(eca=True), 225))),
    'RLAPreActResNet': (
        (dict(depth=164), 32,
         ('rla_mm.RLAPreActResNet', dict(depth=164, rla_channel=0, cat_hidden=False))),
        (dict(depth=110, rla_channel=4), 33,
         ('rla_mm.RLAPreActResNet', dict(depth=110, rla_channel=0, cat_hidden=False)))),
    'RLAXception': ((dict(), 32, ('rla_mm.RLAXception', dict(rla_channel=0, cat_hidden=False))), ),
}


def registered_backbones() -> Dict[str, type]:
    """The backbones that ``import rla_mm`` registers (its own registry scope)."""
    import rla_mm  # noqa: F401
    from rla_mm.registry import MODELS
    return dict(MODELS.module_dict)


def relative_error(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    num = sum(float((x.float() - y.float()).pow(2).sum()) for x, y in zip(a, b))
    den = sum(float(y.float().pow(2).sum()) for y in b)
    return (num / max(den, 1e-30)) ** 0.5


def autocast_dtypes(device: torch.device) -> Dict[str, torch.dtype]:
    """The autocast precisions this torch offers on ``device``: torch 2.1's CPU
    autocast has bf16 only, and GPUs before Ampere have no bf16."""
    offered = {}
    for name, dtype in (('fp16', torch.float16), ('bf16', torch.bfloat16)):
        if device.type == 'cuda' and dtype == torch.bfloat16 \
                and not torch.cuda.is_bf16_supported():
            continue
        try:
            with torch.autocast(device.type, dtype=dtype):
                pass
        except RuntimeError:  # this torch refuses the dtype on this device
            continue
        offered[name] = dtype
    return offered


def _outputs(model, x, dtype=None) -> List[torch.Tensor]:
    with torch.no_grad(), torch.autocast(x.device.type, dtype=dtype,
                                         enabled=dtype is not None):
        outs = model(x)
    return [o.detach().float() for o in outs]


def _backward(model, x, dtype=None) -> None:
    model.zero_grad(set_to_none=True)
    with torch.autocast(x.device.type, dtype=dtype, enabled=dtype is not None):
        loss = sum(o.float().mean() for o in model(x))
    loss.backward()
    bad = [n for n, p in model.named_parameters()
           if p.grad is not None and not torch.isfinite(p.grad).all()]
    if bad:
        raise AssertionError(f'non-finite gradients in {bad[:3]}')


def calibrate_norms(model: torch.nn.Module, x: torch.Tensor) -> None:
    """Set every batch norm's running statistics to those of ``x`` (fp32)."""
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 1.0
    model.train()
    with torch.no_grad():
        model(x)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


def measure(cls: type, kwargs: dict, side: int, device: torch.device,
            batch: int = 2) -> Dict[str, float]:
    """Relative errors of fp16 / bf16 autocast and channels_last outputs against
    fp32, after forward and backward in each; raises AssertionError on
    non-finite outputs or gradients.

    The outputs are compared in eval mode after :func:`calibrate_norms`, so that
    they are of order 1 and do not depend on the batch statistics of the
    precision under test. TF32 is off, so fp32 means fp32.
    """
    torch.manual_seed(0)
    model = cls(**kwargs).to(device)
    model.init_weights()
    x = torch.randn(batch, 3, side, side, device=device)
    tf32 = (torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        calibrate_norms(model, x)
        model.eval()
        ref = _outputs(model, x)
        if not all(torch.isfinite(o).all() for o in ref):
            raise AssertionError('non-finite fp32 outputs')
        errors = {}
        dtypes = autocast_dtypes(device)
        for name, dtype in dtypes.items():
            errors[name] = relative_error(_outputs(model, x, dtype), ref)
        model = model.to(memory_format=torch.channels_last)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        errors['channels_last'] = relative_error(_outputs(model, x_cl), ref)
        model.train()
        for dtype in (None, *dtypes.values()):
            _backward(model, x_cl if dtype is None else x, dtype)
    finally:
        (torch.backends.cuda.matmul.allow_tf32,
         torch.backends.cudnn.allow_tf32) = tf32
    return errors


def _format(errors: Dict[str, float]) -> str:
    return ', '.join(f'{k} {errors[k]:.1e}' if k in errors else
                     f'{k} not offered by this torch here'
                     for k in ('fp16', 'bf16', 'channels_last'))


def check_backbone(cls: type, kwargs: dict, side: int, twin: Tuple[str, dict],
                   device: torch.device) -> str:
    """Measure a backbone and its plain twin; fail where the backbone's error is
    above both TOLERANCE and TWIN_FACTOR times the twin's."""
    from mmengine.registry import MODELS
    errors = measure(cls, kwargs, side, device)
    twin_errors = measure(MODELS.get(twin[0]), twin[1], side, device)
    limits = {k: max(TOLERANCE[k], TWIN_FACTOR * twin_errors[k])
              for k in errors}
    over = {k: v for k, v in errors.items() if not v <= limits[k]}
    if over:
        raise AssertionError(
            'outputs differ from fp32: ' + ', '.join(
                f'{k} {v:.2e} > {limits[k]:.2e}' for k, v in over.items())
            + f' (plain twin {twin[0]}: {_format(twin_errors)})')
    return f'{_format(errors)}; plain twin {twin[0]}: {_format(twin_errors)}'


def backbone_checks(device: torch.device) -> List[Tuple[str, Callable[[], str]]]:
    checks = []
    for name, cls in sorted(registered_backbones().items()):
        if name not in BACKBONE_CASES:
            def missing(name=name):
                raise AssertionError(f'no case for {name} in BACKBONE_CASES')
            checks.append((f'backbone {name}', missing))
            continue
        for kwargs, side, twin in BACKBONE_CASES[name]:
            args = ', '.join(f'{k}={v}' for k, v in kwargs.items())
            checks.append((f'backbone {name}({args}) {side}x{side}',
                           lambda cls=cls, kwargs=kwargs, side=side, twin=twin:
                           check_backbone(cls, kwargs, side, twin, device)))
    return checks


def _run(args: List[str], timeout: int, env: dict = None) -> str:
    proc = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))
    if proc.returncode != 0:
        raise AssertionError(f'`{" ".join(args[:4])} ...` exited with '
                             f'{proc.returncode}:\n{proc.stderr[-2000:]}')
    return proc.stdout + proc.stderr


def _detector_options(work: str) -> List[str]:
    """Options that train the 1x COCO configs on a digits set made in ``work``."""
    spec = importlib.util.spec_from_file_location(
        'make_digits_coco', osp.join(TOOLS, 'data', 'make_digits_coco.py'))
    digits = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(digits)
    root = osp.join(work, 'digits_coco')
    if not osp.isdir(root):
        digits.make_dataset(root, num_train=16, num_val=4, size=160, seed=0)
    return digits.cfg_options(root, scale=320) + [
        'model.backbone.init_cfg=None', 'train_dataloader.batch_size=4']


def train_check(config: str, work: str) -> Callable[[], str]:
    def run() -> str:
        out = _run([sys.executable, osp.join(TOOLS, 'train.py'),
                    osp.join(REPO_ROOT, 'configs', config), '--amp',
                    '--work-dir', osp.join(work, config), '--cfg-options',
                    *_detector_options(work)], timeout=900)
        if 'Epoch(train) [1][4/4]' not in out:
            raise AssertionError('4 iterations were not logged')
        if 'AmpOptimWrapper' not in out:
            raise AssertionError('the run did not use AmpOptimWrapper')
        return 'four --amp iterations, loss finite'
    return run


def syncbn_check(work: str) -> str:
    out = _run(['bash', osp.join(TOOLS, 'dist_train.sh'),
                osp.join(REPO_ROOT, 'configs',
                         'faster_rcnn_rla_r50_fpn_1x_coco.py'), '1',
                '--work-dir', osp.join(work, 'syncbn'), '--cfg-options',
                *_detector_options(work), 'model.backbone.norm_cfg.type=SyncBN'],
               timeout=900, env=dict(PYTHON=sys.executable, PORT='29517'))
    if 'SyncBatchNorm' not in out and 'SyncBN' not in out:
        raise AssertionError('SyncBN does not appear in the run log')
    return 'SyncBN backbone trained an epoch of 4 iterations (NCCL, 1 process)'


def benchmark_check(device: torch.device, report: str) -> str:
    out = _run([sys.executable, osp.join(TOOLS, 'analysis_tools',
                                         'benchmark.py'),
                '--device', str(device), '--out', report], timeout=900)
    return '\n'.join(line for line in out.splitlines() if line.startswith('|'))


def run_checks(checks: Sequence[Tuple[str, Callable[[], str]]]
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
        print(f"[{'ok' if ok else 'FAILED'}] {name} ({seconds:.1f} s)"
              + (f': {detail}' if detail else ''), flush=True)
        results.append((name, ok, detail, seconds))
    return results


def report(results, device: torch.device) -> str:
    lines = [f'# rla_mm GPU check: {device_name(device)}', '',
             f'torch {torch.__version__}, CUDA {torch.version.cuda}, '
             f'arch list {" ".join(arch_list())}', '',
             '| check | result | seconds | detail |', '|---|---|---|---|']
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
    parser.add_argument('--device', default='cuda',
                        help="'cuda[:i]', or 'cpu' for the backbone checks")
    parser.add_argument('--checks', nargs='+', choices=CHECKS,
                        default=list(CHECKS))
    parser.add_argument('--out', help='also write the report (Markdown) here')
    parser.add_argument('--work-dir', help='where the training checks write '
                        '(default: a temporary folder)')
    args = parser.parse_args(argv)
    args.device = torch.device(args.device)
    if args.device.type == 'cpu' and set(args.checks) - {'backbones'}:
        parser.error('--device cpu runs only --checks backbones; the '
                     f'others need CUDA, got {args.checks}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device.type == 'cuda' and not torch.cuda.is_available():
        print('gpu_check: skipped: no CUDA device (torch.cuda.is_available() is '
              f'False; torch {torch.__version__}, built for CUDA '
              f'{torch.version.cuda}). Nothing was checked.')
        return 0
    work = args.work_dir or tempfile.mkdtemp(prefix='rla_mm_gpu_check_')
    checks = []
    if 'backbones' in args.checks:
        checks += backbone_checks(args.device)
    if 'train' in args.checks:
        checks += [(f'train {c} --amp', train_check(c, work)) for c in (
            'faster_rcnn_rla_r50_fpn_1x_coco.py',
            'mask_rcnn_rla_r50_fpn_1x_coco.py')]
    if 'syncbn' in args.checks:
        checks.append(('syncbn faster_rcnn_rla_r50', lambda: syncbn_check(work)))
    if 'benchmark' in args.checks:
        checks.append(('benchmark RLA-ResNet-50 / ResNet-50', lambda:
                       benchmark_check(args.device,
                                       osp.join(work, 'benchmark.md'))))
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
