"""Compare classification runs: parameters, test top-1, time, and their curves.

Each run directory holds the MMEngine log of tools/train.py, the JSON written
by ``tools/test.py --metrics-out RUN_DIR/test_metrics.json`` and, optionally, a
``train_seconds`` file with the training wall time.

Usage:
    python tools/analysis_tools/compare_cls_runs.py RUN_DIR [RUN_DIR ...]
        [--names A B ...] [--out curves.png] [--summary summary.md]

Prints a Markdown table (the first run is the reference for ΔParams) and draws
the training loss and validation top-1 of every run in one PNG.
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from plot_curves import load_run  # noqa: E402


def summary_table(names: List[str], runs: List[Dict]) -> str:
    """A Markdown table of the runs; ΔParams is relative to the first run."""
    ref = runs[0]['test']['params']
    lines = [
        '| model | params | ΔParams vs ' + names[0] +
        ' | best val top-1 (%) | test top-1 (%) | train time (s) |',
        '|---|---|---|---|---|---|',
    ]
    for name, run in zip(names, runs):
        params = run['test']['params']
        val = [r['accuracy/top1'] for r in run['records']['val']]
        best_val = f'{max(val):.2f}' if val else 'n/a'
        top1 = run['test']['metrics'].get('accuracy/top1')
        top1 = f'{top1:.2f}' if top1 is not None else 'n/a'
        secs = f"{run['seconds']:.0f}" if run['seconds'] is not None else 'n/a'
        lines.append(f'| {name} | {params:,} ({params / 2**20:.3f}M) | '
                     f'{params - ref:+,} | {best_val} | {top1} | {secs} |')
    return '\n'.join(lines)


def plot_runs(names: List[str], runs: List[Dict], out: str) -> None:
    """Training loss per iteration and validation top-1 per epoch, all runs."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, run in zip(names, runs):
        train, val = run['records']['train'], run['records']['val']
        axes[0].plot([r.get('iter', r.get('step')) for r in train],
                     [r['loss'] for r in train],
                     label=name)
        if val:
            axes[1].plot([r['step'] for r in val],
                         [r['accuracy/top1'] for r in val],
                         marker='o',
                         label=name)
    axes[0].set(xlabel='iteration', ylabel='loss', title='training loss')
    axes[1].set(xlabel='epoch', ylabel='top-1 (%)', title='validation top-1')
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('runs', nargs='+', help='run directories')
    parser.add_argument(
        '--names', nargs='+', help='labels (default: dir names)')
    parser.add_argument('--out', default='curves.png', help='PNG to write')
    parser.add_argument('--summary', help='also write the table to this file')
    args = parser.parse_args(argv)
    names = args.names or [osp.basename(osp.normpath(r)) for r in args.runs]
    if len(names) != len(args.runs):
        raise ValueError(f'--names has {len(names)} labels for '
                         f'{len(args.runs)} runs')
    runs = [load_run(r) for r in args.runs]
    table = summary_table(names, runs)
    print(table)
    plot_runs(names, runs, args.out)
    print(f'wrote {args.out}')
    if args.summary:
        with open(args.summary, 'w') as f:
            f.write(table + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
