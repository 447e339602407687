"""Time and measure an RLA-ResNet backbone against the plain ResNet of the same
depth.

Both models run in one process, interleaved A B A B after warm-up, so that load
from other processes hits both alike; the tool prints the median ratio RLA
/ plain with its spread (min-max over the pairs) for inference and for one
training step (forward + backward), and the peak memory of a training step.
Cases:

* ``cls``: classification backbones at 224x224, batch 8: RLAResNet(depth,
  out_indices=(3,), cat_hidden=True) (the backbone of
  configs/rla_resnet50_4xb64_in1k.py) against MMPretrain's
  ResNet(depth, out_indices=(3,)).
* ``det``: detection backbones at 800x1333, batch 1, as in the COCO configs
  (frozen_stages=1, norm_eval=True, out_indices=(0, 1, 2, 3)): RLAResNet
  against MMDetection's ResNet.

* ``detfpn``: the ``det`` backbones followed by the FPN neck of the COCO
  configs (in 256/512/1024/2048, out 256, 5 levels), 640x960, batch 1: what an
  exported detector runs before its heads. Only with ``--modes``.

``--modes eager compile ort`` times *inference only* under each runtime, all of
them interleaved in one loop (RLA, plain, RLA, plain, ... for every mode in
turn), and prints each median ratio beside the FLOPs ratio of the pair
(MMEngine's counter, the one of get_flops.py): ``eager``
(PyTorch, ``torch.no_grad``), ``compile``
(``torch.compile``, inductor, compiled during warm-up), ``ort`` (the model
exported with ``torch.onnx`` and run by ONNX Runtime's CPU provider at its
highest graph optimisation level, ORT_ENABLE_ALL, with as many intra-op threads
as torch), ``ort-basic`` (ORT_ENABLE_BASIC: constant folding and the like, no
Conv+BN or activation fusion).

Peak memory is the high-water mark of the bytes allocated through PyTorch's
allocator during one training step (forward, loss, backward, gradients of all
parameters freshly allocated), above what was live before it: the running sum
of the allocator's allocation and free events that ``torch.profiler`` records
with ``profile_memory=True`` (CUDA: ``torch.cuda.max_memory_allocated``).
Weights and the input are not included.

``--batch N`` replaces a case's batch size (the paper's Table 14 times batch 64
at 224x224 on a GPU: ``--cases cls --batch 64``). ``--compile`` wraps both
models in ``torch.compile`` (default mode) before timing; the warm-up pairs
then include the compilation, and at least one is required.

Usage:
    python tools/analysis_tools/benchmark.py [--cases cls det] [--depth 50]
        [--repeats 5] [--warmup 1] [--threads N] [--device cpu|cuda]
        [--batch N] [--compile] [--out docs/benchmark.md]
    python tools/analysis_tools/benchmark.py --modes eager compile ort
        [--cases cls detfpn] [--out docs/benchmark.md] (block benchmark-modes)
"""
import argparse
import os
import platform
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

CASES = {
    # name: (input shape N, C, H, W, description)
    'cls': ((8, 3, 224, 224), 'classification backbone, 224x224, batch 8'),
    'det': ((1, 3, 800, 1333), 'detection backbone, 800x1333, batch 1'),
    'detfpn':
    ((1, 3, 640, 960), 'detection backbone + FPN neck, 640x960, batch 1'),
}
#: What ``--modes`` can time (see the module docstring).
MODES = ('eager', 'compile', 'ort', 'ort-basic')


class _WithNeck(nn.Module):
    """A detection backbone followed by its neck."""

    def __init__(self, backbone: nn.Module, neck: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.neck = neck

    def forward(self, x: torch.Tensor):
        return self.neck(self.backbone(x))


def build_pair(case: str,
               depth: int,
               with_cp: bool = False) -> Tuple[nn.Module, nn.Module]:
    """Return (RLA backbone, plain ResNet backbone) for ``case``.

    Args:
        case (str): 'cls' or 'det'.
        depth (int): ResNet depth (50, 101, 152, ...).
        with_cp (bool): Activation checkpointing in the RLA model.
    """
    from rla_mm.models import RLAResNet, classifier_form
    if case == 'cls':
        from mmpretrain.models.backbones import ResNet
        rla = RLAResNet(**classifier_form(depth=depth, with_cp=with_cp))
        plain = ResNet(depth=depth, out_indices=(3, ))
    elif case in ('det', 'detfpn'):
        from mmdet.models.backbones import ResNet
        common = dict(
            depth=depth,
            out_indices=(0, 1, 2, 3),
            frozen_stages=1,
            norm_eval=True)
        rla = RLAResNet(with_cp=with_cp, **common)
        plain = ResNet(**common)
        if case == 'detfpn':
            from mmdet.models.necks import FPN
            expansion = 4 if depth >= 50 else 1
            neck = dict(
                in_channels=[64 * expansion * 2**i for i in range(4)],
                out_channels=256,
                num_outs=5)
            rla, plain = _WithNeck(rla,
                                   FPN(**neck)), _WithNeck(plain, FPN(**neck))
    else:
        raise ValueError(
            f'unknown case {case!r}, expected one of {tuple(CASES)}')
    return rla, plain


def inference_fn(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """A closure running one forward pass without autograd."""

    def run():
        model.eval()
        with torch.no_grad():
            model(x)

    return run


def train_fn(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """A closure running one training step: forward, a scalar loss,
    backward."""

    def run():
        model.train()
        for p in model.parameters():
            p.grad = None
        outs = model(x)
        sum(o.float().mean() for o in outs).backward()

    return run


def compiled_fn(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """Inference with ``torch.compile`` (inductor); the first call compiles."""
    model.eval()
    compiled = torch.compile(model)

    def run():
        with torch.no_grad():
            compiled(x)

    return run


def ort_fn(model: nn.Module,
           x: torch.Tensor,
           folder: str,
           name: str,
           level: str = 'all') -> Callable[[], None]:
    """Inference of ``model`` exported to ONNX, in ONNX Runtime (CPU)."""
    import os.path as osp

    from rla_mm.deployment.export import export_graph
    from rla_mm.deployment.runtime import OrtGraph
    model.eval()
    path = osp.join(folder, f'{name}.onnx')
    if not osp.exists(path):
        export_graph(model.cpu(), (x.cpu(), ), path, ['image'], [],
                     {'image': {
                         2: 'height',
                         3: 'width'
                     }})
    graph = OrtGraph(path, level=level, threads=torch.get_num_threads())
    array = x.cpu().numpy()

    def run():
        graph.run_numpy(array)

    return run


def flops_ratio(rla: nn.Module, plain: nn.Module, x: torch.Tensor) -> float:
    """FLOPs of ``rla`` over those of ``plain`` on ``x``
    (MMEngine's counter)."""
    import logging
    import warnings

    from mmengine.analysis import get_model_complexity_info
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)  # it logs every op it does not count
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter('ignore')
            for m in (rla, plain):
                m.eval()  # some backbones' train() returns None
            counts = [
                get_model_complexity_info(
                    m, inputs=(x[:1], ), show_table=False,
                    show_arch=False)['flops'] for m in (rla, plain)
            ]
    finally:
        logger.setLevel(level)
    return counts[0] / counts[1]


def run_modes(case: str, depth: int, modes: Sequence[str], repeats: int,
              warmup: int, device: torch.device) -> Dict[str, object]:
    """Inference of the pair under each of ``modes``, all interleaved in one
    loop; returns per mode the medians and ratios, and the FLOPs ratio."""
    import tempfile
    torch.manual_seed(0)
    rla, plain = build_pair(case, depth)
    x = torch.randn(CASES[case][0])
    result: Dict[str, object] = {'flops': flops_ratio(rla, plain, x)}
    rla, plain, x = rla.to(device), plain.to(device), x.to(device)
    fns: List[Callable[[], None]] = []
    with tempfile.TemporaryDirectory() as folder:
        for mode in modes:
            for name, model in (('rla', rla), ('plain', plain)):
                if mode == 'eager':
                    fns.append(inference_fn(model, x))
                elif mode == 'compile':
                    fns.append(compiled_fn(model, x))
                else:
                    if device.type != 'cpu':
                        raise ValueError(f'mode {mode!r} runs on the CPU only')
                    fns.append(
                        ort_fn(model, x, folder, f'{case}_{name}',
                               'basic' if mode == 'ort-basic' else 'all'))
        times = time_pair(fns, repeats,
                          max(warmup, 1) if 'compile' in modes else warmup,
                          device)
    for i, mode in enumerate(modes):
        result[mode] = summarise(times[2 * i], times[2 * i + 1])
    return result


def format_modes(results: Dict[str, Dict[str, object]], depth: int,
                 repeats: int, warmup: int, device: torch.device) -> str:
    """The ``--modes`` results as a Markdown section."""
    lines = [
        f'Machine: {machine_line(device)}; onnxruntime {_ort_version()}. '
        f'Inference only; {repeats} interleaved rounds (every mode, RLA then '
        f'plain) after {warmup} warm-up round(s).', '',
        f'| case | runtime | RLA-ResNet-{depth} (s) | ResNet-{depth} (s) | '
        'ratio (median) | ratio min-max | FLOPs ratio |',
        '|---|---|---|---|---|---|---|'
    ]
    for case, res in results.items():
        for mode, s in res.items():
            if mode == 'flops':
                continue
            lines.append(
                f'| {case} | {mode} | {s["rla"]:.4f} | {s["plain"]:.4f} | '
                f'**{s["ratio"]:.3f}** | {s["lo"]:.3f}-{s["hi"]:.3f} | '
                f'{res["flops"]:.3f} |')
    return '\n'.join(lines) + '\n'


def _ort_version() -> str:
    try:
        import onnxruntime
        return onnxruntime.__version__
    except ImportError:
        return 'not installed'


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_pair(fns: Sequence[Callable[[], None]], repeats: int, warmup: int,
              device: torch.device) -> List[List[float]]:
    """Time the functions interleaved (A B A B ...); seconds per call for
    each."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: List[List[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times[i].append(time.perf_counter() - start)
    return times


def _event_time(event) -> int:
    """A profiler event's start in ns (torch 2.1's events give
    microseconds)."""
    if hasattr(event, 'start_ns'):
        return event.start_ns()
    return event.start_us() * 1000


def peak_memory(fn: Callable[[], None], device: torch.device) -> int:
    """Peak bytes allocated by ``fn`` above what was live when it started."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    from torch.profiler import ProfilerActivity, profile
    with profile(
            activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e for e in prof.profiler.kineto_results.events()
                     if e.name() == '[memory]'),
                    key=_event_time)
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    return peak


def profile_table(fn: Callable[[], None], rows: int) -> str:
    """torch.profiler's table of the ops that cost most self time in ``fn``."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return prof.key_averages().table(
        sort_by='self_cpu_time_total', row_limit=rows)


def summarise(rla: List[float], plain: List[float]) -> Dict[str, float]:
    """Median times and the median, min and max of the per-pair ratios."""
    ratios = [a / b for a, b in zip(rla, plain)]
    return dict(
        rla=statistics.median(rla),
        plain=statistics.median(plain),
        ratio=statistics.median(ratios),
        lo=min(ratios),
        hi=max(ratios))


def input_shape(case: str, batch: Optional[int] = None) -> Tuple[int, ...]:
    """The case's input shape, with ``batch`` replacing its batch size."""
    shape = CASES[case][0]
    return shape if batch is None else (batch, *shape[1:])


def run_case(case: str,
             depth: int,
             repeats: int,
             warmup: int,
             device: torch.device,
             batch: Optional[int] = None,
             compile: bool = False) -> Dict[str, object]:
    """Benchmark one case; returns timings, ratios and peak memories.

    With ``compile``, the RLA and plain models are ``torch.compile``'d (the
    ``with_cp`` model of the memory row is not).
    """
    torch.manual_seed(0)
    rla, plain = build_pair(case, depth)
    rla_cp, _ = build_pair(case, depth, with_cp=True)
    rla, plain, rla_cp = (m.to(device) for m in (rla, plain, rla_cp))
    if compile:
        rla, plain = torch.compile(rla), torch.compile(plain)
    x = torch.randn(input_shape(case, batch), device=device)
    result: Dict[str, object] = {}
    for mode, make in (('inference', inference_fn), ('train step', train_fn)):
        times = time_pair([make(rla, x), make(plain, x)], repeats, warmup,
                          device)
        result[mode] = summarise(*times)
    mem = {
        name: peak_memory(train_fn(m, x), device)
        for name, m in (('rla', rla), ('plain', plain), ('rla_cp', rla_cp))
    }
    result['memory'] = mem
    return result


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line(device: torch.device) -> str:
    """A line naming the machine, torch version and thread count."""
    if device.type == 'cuda':
        what = torch.cuda.get_device_name(device)
    else:
        what = f'{cpu_name()}, {os.cpu_count()} logical CPUs'
    return (f'{what}; torch {torch.__version__}; '
            f'{torch.get_num_threads()} threads; device {device}')


def format_report(results: Dict[str, Dict[str, object]],
                  depth: int,
                  repeats: int,
                  warmup: int,
                  device: torch.device,
                  batch: Optional[int] = None,
                  compile: bool = False) -> str:
    """The results as a Markdown section."""
    mib = 1024**2
    shapes = ', '.join(f'{case} {"x".join(map(str, input_shape(case, batch)))}'
                       for case in results)
    lines = [
        f'Machine: {machine_line(device)}. {repeats} interleaved pairs '
        f'after {warmup} warm-up pair(s). Inputs (N x C x H x W): {shapes}' +
        ('; both models torch.compile\'d.' if compile else '.'), '',
        f'| case | what | RLA-ResNet-{depth} | ResNet-{depth} | '
        'ratio (median) | ratio min-max |', '|---|---|---|---|---|---|'
    ]
    for case, res in results.items():
        for mode in ('inference', 'train step'):
            s = res[mode]
            lines.append(f'| {case} | {mode} (s) | {s["rla"]:.3f} | '
                         f'{s["plain"]:.3f} | **{s["ratio"]:.3f}** | '
                         f'{s["lo"]:.3f}-{s["hi"]:.3f} |')
        m = res['memory']
        lines.append(
            f'| {case} | train-step peak (MiB) | {m["rla"] / mib:.0f} | '
            f'{m["plain"] / mib:.0f} | **{m["rla"] / m["plain"]:.3f}** | |')
        lines.append(f'| {case} | RLA with_cp=True peak (MiB) | '
                     f'{m["rla_cp"] / mib:.0f} | | saves '
                     f'**{1 - m["rla_cp"] / m["rla"]:.1%}** | |')
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--cases',
        nargs='+',
        choices=sorted(CASES),
        default=None,
        help="default: cls det (with --modes: "
        "cls detfpn)")
    parser.add_argument(
        '--modes',
        nargs='+',
        choices=MODES,
        default=None,
        help='time inference under these runtimes instead '
        '(see the docstring); the table goes in the '
        'benchmark-modes block of --out')
    parser.add_argument('--depth', type=int, default=50)
    parser.add_argument(
        '--repeats',
        type=int,
        default=5,
        help='timed A/B pairs per measurement (default 5)')
    parser.add_argument(
        '--warmup',
        type=int,
        default=1,
        help='untimed A/B pairs first (default 1)')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch.set_num_threads (default: torch\'s own)')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:i]'")
    parser.add_argument(
        '--batch',
        type=int,
        default=None,
        help='batch size of every case (default: the case\'s own)')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='torch.compile both models before timing')
    parser.add_argument(
        '--out',
        help='also write the table into this Markdown '
        'file (between <!-- benchmark:begin/end --> markers)')
    parser.add_argument(
        '--profile',
        type=int,
        metavar='ROWS',
        default=0,
        help='instead of timing, print the ROWS costliest ops of '
        'one inference and one train step of each model')
    args = parser.parse_args(argv)
    for name in ('repeats', 'threads', 'batch'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name} must be >= 1, got {value}')
    if args.warmup < 0:
        parser.error(f'--warmup must be >= 0, got {args.warmup}')
    if args.compile and args.warmup < 1:
        parser.error(
            '--compile needs --warmup >= 1 (the first calls compile), '
            f'got {args.warmup}')
    if args.compile and args.profile:
        parser.error('--compile and --profile do not go together')
    if args.cases is None:
        args.cases = ['cls', 'detfpn'] if args.modes else ['cls', 'det']
    if 'detfpn' in args.cases and not args.modes:
        parser.error('--cases detfpn is timed with --modes only')
    if args.modes and args.profile:
        parser.error('--modes and --profile do not go together')
    return args


def main(argv=None) -> str:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit(f'--device {args.device}: CUDA is not available here')
    if args.threads:
        torch.set_num_threads(args.threads)
    import rla_mm  # noqa: F401  (registers the backbones)
    if args.profile:
        for case in args.cases:
            x = torch.randn(input_shape(case, args.batch), device=device)
            for name, model in zip(('RLA', 'plain'),
                                   build_pair(case, args.depth)):
                model.to(device)
                for mode, make in (('inference', inference_fn), ('train step',
                                                                 train_fn)):
                    make(model, x)()  # warm-up
                    print(f'== {case} {name} {mode}')
                    print(profile_table(make(model, x), args.profile))
        return ''
    if args.modes:
        results = {}
        for case in args.cases:
            print(
                f'[benchmark] {case}: {CASES[case][1]}; '
                f'{", ".join(args.modes)}',
                flush=True)
            results[case] = run_modes(case, args.depth, args.modes,
                                      args.repeats, args.warmup, device)
        report = format_modes(results, args.depth, args.repeats, args.warmup,
                              device)
        print(report)
        if args.out:
            from markdown_block import replace_block
            replace_block(args.out, 'benchmark-modes', report)
        return report
    results = {}
    for case in args.cases:
        print(f'[benchmark] {case}: {CASES[case][1]}', flush=True)
        results[case] = run_case(case, args.depth, args.repeats, args.warmup,
                                 device, args.batch, args.compile)
    report = format_report(results, args.depth, args.repeats, args.warmup,
                           device, args.batch, args.compile)
    print(report)
    if args.out:
        from rla_mm.utils.markdown_block import replace_block
        replace_block(args.out, 'benchmark', report)
    return report


if __name__ == '__main__':
    main()
