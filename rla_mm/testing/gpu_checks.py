"""The checks of a CUDA machine, shared by
``tools/analysis_tools/gpu_check.py`` (the one command a user runs there) and
``tests/cuda`` (the same checks as pytest tests).

* :func:`check_backbone`: a backbone of
  :data:`rla_mm.testing.backbone_cases.FULL` forward and backward in fp32,
  under autocast fp16 and bf16, and in channels_last. Outputs and gradients
  must be finite; autocast and channels_last outputs must agree with fp32 (the
  relative L2 error over all outputs) within :data:`TOLERANCE`, or within
  :data:`TWIN_FACTOR` times the error of the plain twin (the same network
  without RLA). TF32 is switched off for these comparisons, so fp32 means fp32.
* :func:`train_check`, :func:`syncbn_check`, :func:`benchmark_check`: a few
  ``--amp`` training iterations of a detector config on a generated digits COCO
  set, a SyncBN step through ``dist_train.sh``, and ``benchmark.py``; they run
  the repository's tools (``tools_dir``) in subprocesses.

Each check returns a one-line summary or raises AssertionError with the reason.
"""
import importlib.util
import os
import os.path as osp
import subprocess
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from .backbone_cases import FULL, FullCase, full_case_id

# Relative L2 error against the fp32 outputs (eval mode, norms calibrated on
# the input batch; see measure) that is always allowed. Above it, a case passes
# when its error is at most TWIN_FACTOR times its plain twin's (the same
# network without RLA, measured in the same run). A freshly initialised deep
# network amplifies rounding through its depth (MMPretrain's own MobileNetV2 is
# about 7e-2 off in fp16 and 4e-1 in bf16 at 224x224), and RLA's hidden state
# is a recurrence as long as the network has blocks: on a 2-core x86-64 CPU,
# RLA-ResNet-50 is 3.5x ResNet-50's fp16 error (1.5e-3 against 4.3e-4) and
# RLA-ResNet-164 3.2x its plain twin's (7.0e-2 against 2.2e-2), RLA-MobileNetV2
# and RLA-Xception 1.1x. What this check must catch is RLA parts that autocast
# breaks (overflow, non-finite values, a dtype mix-up), which is far beyond
# that.
TOLERANCE = {'fp16': 1e-2, 'bf16': 5e-2, 'channels_last': 1e-4}
TWIN_FACTOR = 4.0

Check = Tuple[str, Callable[[], str]]


def registered_backbones() -> Dict[str, type]:
    """The backbones that ``import rla_mm`` registers
    (its own registry scope)."""
    import rla_mm  # noqa: F401
    from rla_mm.registry import MODELS
    return dict(MODELS.module_dict)


def relative_error(a: Sequence[torch.Tensor],
                   b: Sequence[torch.Tensor]) -> float:
    num = sum(
        float((x.float() - y.float()).pow(2).sum()) for x, y in zip(a, b))
    den = sum(float(y.float().pow(2).sum()) for y in b)
    return (num / max(den, 1e-30))**0.5


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
    with torch.no_grad(), torch.autocast(
            x.device.type, dtype=dtype, enabled=dtype is not None):
        outs = model(x)
    return [o.detach().float() for o in outs]


def _backward(model, x, dtype=None) -> None:
    model.zero_grad(set_to_none=True)
    with torch.autocast(x.device.type, dtype=dtype, enabled=dtype is not None):
        loss = sum(o.float().mean() for o in model(x))
    loss.backward()
    bad = [
        n for n, p in model.named_parameters()
        if p.grad is not None and not torch.isfinite(p.grad).all()
    ]
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


def measure(cls: type,
            kwargs: dict,
            side: int,
            device: torch.device,
            batch: int = 2) -> Dict[str, float]:
    """Relative errors of fp16 / bf16 autocast and channels_last outputs
    against fp32, after forward and backward in each; raises AssertionError on
    non-finite outputs or gradients.

    The outputs are compared in eval mode after :func:`calibrate_norms`, so
    that they are of order 1 and do not depend on the batch statistics of the
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
    return ', '.join(f'{k} {errors[k]:.1e}' if k in
                     errors else f'{k} not offered by this torch here'
                     for k in ('fp16', 'bf16', 'channels_last'))


def check_backbone(cls: type, case: FullCase, device: torch.device) -> str:
    """Measure a backbone and its plain twin; fail where the backbone's error
    is above both TOLERANCE and TWIN_FACTOR times the twin's."""
    from mmengine.registry import MODELS
    errors = measure(cls, case.kwargs, case.side, device)
    twin_errors = measure(
        MODELS.get(case.twin), case.twin_kwargs, case.side, device)
    limits = {
        k: max(TOLERANCE[k], TWIN_FACTOR * twin_errors[k])
        for k in errors
    }
    over = {k: v for k, v in errors.items() if not v <= limits[k]}
    if over:
        raise AssertionError(
            'outputs differ from fp32: ' +
            ', '.join(f'{k} {v:.2e} > {limits[k]:.2e}'
                      for k, v in over.items()) +
            f' (plain twin {case.twin}: {_format(twin_errors)})')
    return f'{_format(errors)}; plain twin {case.twin}: {_format(twin_errors)}'


def backbone_checks(device: torch.device,
                    only: Optional[Sequence[str]] = None,
                    side: Optional[int] = None) -> List[Check]:
    """One check per full-size case of every registered backbone (or of the
    backbones named in ``only``), at each case's input side or at ``side``. A
    registered backbone without an entry in the case table is a failing
    check."""
    registered = registered_backbones()
    unknown = sorted(set(only or ()) - set(registered))
    if unknown:
        raise ValueError(f'unknown backbone(s) {unknown}; registered: '
                         f'{sorted(registered)}')
    checks: List[Check] = []
    for name, cls in sorted(registered.items()):
        if only and name not in only:
            continue
        if name not in FULL:

            def missing(name=name):
                raise AssertionError(f'no entry for {name} in '
                                     'rla_mm.testing.backbone_cases.BACKBONES')

            checks.append((f'backbone {name}', missing))
            continue
        for case in FULL[name]:
            if side is not None:
                case = case._replace(side=side)
            checks.append(
                (f'backbone {full_case_id(name, case)}',
                 lambda cls=cls, case=case: check_backbone(cls, case, device)))
    return checks


def _run(args: List[str], cwd: str, timeout: int, env: dict = None) -> str:
    proc = subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **(env or {})))
    if proc.returncode != 0:
        raise AssertionError(f'`{" ".join(args[:4])} ...` exited with '
                             f'{proc.returncode}:\n{proc.stderr[-2000:]}')
    return proc.stdout + proc.stderr


def detector_options(tools_dir: str, work: str) -> List[str]:
    """``--cfg-options`` that train the 1x COCO configs on a digits set made in
    ``work`` by ``tools_dir/data/make_digits_coco.py``."""
    spec = importlib.util.spec_from_file_location(
        'make_digits_coco', osp.join(tools_dir, 'data', 'make_digits_coco.py'))
    digits = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(digits)
    root = osp.join(work, 'digits_coco')
    if not osp.isdir(root):
        digits.make_dataset(root, num_train=16, num_val=4, size=160, seed=0)
    return digits.cfg_options(
        root, scale=320) + [
            'model.backbone.init_cfg=None', 'train_dataloader.batch_size=4'
        ]


def train_check(tools_dir: str, config: str, work: str) -> str:
    """Four ``--amp`` iterations of ``configs/<config>`` (one GPU)."""
    root = osp.dirname(osp.abspath(tools_dir))
    out = _run([
        sys.executable,
        osp.join(tools_dir, 'train.py'),
        osp.join(root, 'configs', config), '--amp', '--work-dir',
        osp.join(work, config), '--cfg-options',
        *detector_options(tools_dir, work)
    ],
               cwd=root,
               timeout=900)
    if 'Epoch(train) [1][4/4]' not in out:
        raise AssertionError('4 iterations were not logged')
    if 'AmpOptimWrapper' not in out:
        raise AssertionError('the run did not use AmpOptimWrapper')
    return 'four --amp iterations, loss finite'


def syncbn_check(tools_dir: str, work: str) -> str:
    """The Faster R-CNN config with a SyncBN backbone, one NCCL process."""
    root = osp.dirname(osp.abspath(tools_dir))
    out = _run([
        'bash',
        osp.join(tools_dir, 'dist_train.sh'),
        osp.join(root, 'configs',
                 'faster_rcnn_rla_r50_fpn_1x_coco.py'), '1', '--work-dir',
        osp.join(work, 'syncbn'), '--cfg-options',
        *detector_options(tools_dir, work),
        'model.backbone.norm_cfg.type=SyncBN'
    ],
               cwd=root,
               timeout=900,
               env=dict(PYTHON=sys.executable, PORT='29517'))
    if 'SyncBatchNorm' not in out and 'SyncBN' not in out:
        raise AssertionError('SyncBN does not appear in the run log')
    return 'SyncBN backbone trained an epoch of 4 iterations (NCCL, 1 process)'


def benchmark_check(tools_dir: str,
                    device: torch.device,
                    args: Sequence[str] = ()) -> str:
    """``benchmark.py --device DEVICE ARGS``; its table rows."""
    root = osp.dirname(osp.abspath(tools_dir))
    out = _run([
        sys.executable,
        osp.join(tools_dir, 'analysis_tools', 'benchmark.py'), '--device',
        str(device), *args
    ],
               cwd=root,
               timeout=900)
    return '\n'.join(line for line in out.splitlines() if line.startswith('|'))
