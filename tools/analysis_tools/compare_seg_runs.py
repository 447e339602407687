"""Compare segmentation runs: parameters, mIoU, time, curves and predictions.

Each run directory holds the MMEngine log of tools/train.py, its
``last_checkpoint``, the JSON written by ``tools/test.py --metrics-out
RUN_DIR/test_metrics.json`` and, optionally, a ``train_seconds`` file with the
training wall time.

Usage:
    python tools/analysis_tools/compare_seg_runs.py RUN_DIR [RUN_DIR ...]
        --configs CONFIG [CONFIG ...] [--names A B ...] [--out curves.png]
        [--predictions predictions.png --images DIR --labels DIR]
        [--summary summary.md]

Prints a Markdown table (the first run is the reference for ΔParams), draws
the training loss and validation mIoU of every run in one PNG and, with
``--predictions``, a grid of the first val images: the image, its label map
and each run's prediction.
"""
import argparse
import glob
import os.path as osp
import sys
from typing import Dict, List, Optional

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from plot_curves import SEG_METRICS, load_run  # noqa: E402


def summary_table(names: List[str], runs: List[Dict]) -> str:
    """A Markdown table of the runs; ΔParams is relative to the first run."""
    ref = runs[0]['test']['params']
    lines = [
        '| model | params | ΔParams vs ' + names[0] +
        ' | val mIoU (%) | aAcc (%) | mAcc (%) | train time (s) |',
        '|---|---|---|---|---|---|---|',
    ]
    for name, run in zip(names, runs):
        params = run['test']['params']
        metrics = run['test']['metrics']
        cells = [
            f'{metrics[k]:.2f}' if k in metrics else 'n/a' for k in SEG_METRICS
        ]
        secs = f"{run['seconds']:.0f}" if run['seconds'] is not None else 'n/a'
        lines.append(f'| {name} | {params:,} | {params - ref:+,} | ' +
                     ' | '.join(cells) + f' | {secs} |')
    return '\n'.join(lines)


def plot_runs(names: List[str], runs: List[Dict], out: str) -> None:
    """Training loss per iteration and validation mIoU, all runs."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, run in zip(names, runs):
        train, val = run['records']['train'], run['records']['val']
        axes[0].plot([r.get('iter', r.get('step')) for r in train],
                     [r['loss'] for r in train],
                     label=name)
        if val:
            axes[1].plot([r['step'] for r in val], [r['mIoU'] for r in val],
                         marker='o',
                         label=name)
    axes[0].set(xlabel='iteration', ylabel='loss', title='training loss')
    axes[1].set(xlabel='iteration', ylabel='mIoU (%)', title='validation mIoU')
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def colour(labels: np.ndarray, palette: List[List[int]]) -> np.ndarray:
    """A label map as an RGB picture (255, ignored, in white)."""
    table = np.full((256, 3), 255, np.uint8)
    table[:len(palette)] = np.asarray(palette, np.uint8)
    return table[labels]


def predict(config: str, checkpoint: str, images: List[str]) -> List:
    """The label maps a run's model predicts for ``images``."""
    from mmseg.apis import inference_model, init_model

    import rla_mm  # noqa: F401  (registers the backbones)
    model = init_model(config, checkpoint, device='cpu')
    return [
        inference_model(model, img).pred_sem_seg.data[0].numpy()
        for img in images
    ]


def plot_predictions(names: List[str], configs: List[str],
                     checkpoints: List[str], image_dir: str, label_dir: str,
                     out: str, count: int) -> None:
    """The first ``count`` images of ``image_dir`` in rows: the image, its
    label map (same file name in ``label_dir``) and each run's prediction."""
    import cv2
    from mmengine.config import Config
    images = sorted(glob.glob(osp.join(image_dir, '*.png')))[:count]
    if not images:
        raise FileNotFoundError(f'no .png image in {image_dir!r}')
    palette = Config.fromfile(configs[0]).palette
    preds = [
        predict(cfg, ckpt, images) for cfg, ckpt in zip(configs, checkpoints)
    ]
    cols = 2 + len(names)
    fig, axes = plt.subplots(
        len(images), cols, figsize=(1.6 * cols, 1.6 * len(images)))
    axes = np.asarray(axes).reshape(len(images), cols)
    for row, path in enumerate(images):
        image = cv2.imread(path)[..., ::-1]
        label = cv2.imread(
            osp.join(label_dir, osp.basename(path)), cv2.IMREAD_UNCHANGED)
        panels = [image, colour(label, palette)]
        panels += [colour(p[row], palette) for p in preds]
        for col, panel in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(panel, interpolation='nearest')
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title((['image', 'label'] + names)[col], fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('runs', nargs='+', help='run directories')
    parser.add_argument(
        '--configs', nargs='+', required=True, help='the config of each run')
    parser.add_argument(
        '--names', nargs='+', help='labels (default: dir names)')
    parser.add_argument('--out', default='curves.png', help='PNG to write')
    parser.add_argument(
        '--predictions', help='also draw predictions to this PNG')
    parser.add_argument('--images', help='val images (with --predictions)')
    parser.add_argument('--labels', help='their label maps')
    parser.add_argument(
        '--count', type=int, default=6, help='images in the predictions PNG')
    parser.add_argument('--summary', help='also write the table to this file')
    args = parser.parse_args(argv)
    names = args.names or [osp.basename(osp.normpath(r)) for r in args.runs]
    for what, values in (('--names', names), ('--configs', args.configs)):
        if len(values) != len(args.runs):
            raise ValueError(f'{what} has {len(values)} entries for '
                             f'{len(args.runs)} runs')
    runs = [load_run(r) for r in args.runs]
    table = summary_table(names, runs)
    print(table)
    plot_runs(names, runs, args.out)
    print(f'wrote {args.out}')
    if args.predictions:
        if not (args.images and args.labels):
            raise ValueError('--predictions needs --images and --labels')
        checkpoints = []
        for run in args.runs:
            with open(osp.join(run, 'last_checkpoint')) as f:
                checkpoints.append(f.read().strip())
        plot_predictions(names, args.configs, checkpoints, args.images,
                         args.labels, args.predictions, args.count)
        print(f'wrote {args.predictions}')
    if args.summary:
        with open(args.summary, 'w') as f:
            f.write(table + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
