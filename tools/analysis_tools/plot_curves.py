"""Plot training curves (loss, lr, validation metric) from MMEngine's JSON
logs: MMDetection's mAP, MMPretrain's top-1, MMSegmentation's mIoU.

Also ``load_run``, the records, test metrics and wall time of one run that
the compare tools read.

Usage:
    python tools/analysis_tools/plot_curves.py WORK_DIR_OR_JSON
        [--out curves.png]

WORK_DIR may hold several runs (timestamp folders); the newest one with a
``vis_data/*.json`` scalar log is used (a resumed run continues the same
curves).
"""
import argparse
import glob
import json
import os.path as osp
import sys
from typing import Dict, List

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

# Validation metrics the plot draws, in the order it draws them.
VAL_METRICS = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'accuracy/top1', 'mIoU')
# MMSegmentation's IoUMetric logs these without a prefix (in the order the
# compare table shows them).
SEG_METRICS = ('mIoU', 'aAcc', 'mAcc')


def find_logs(path: str) -> List[str]:
    """Scalar JSON logs of a work dir, newest first
    (or ``[path]`` for a file)."""
    if osp.isfile(path):
        return [path]
    logs = sorted(glob.glob(osp.join(path, '*', 'vis_data', '*.json')))
    logs = [p for p in logs if not p.endswith('scalars.json')] or logs
    if not logs:
        raise FileNotFoundError(f'no MMEngine JSON log under {path!r} '
                                f'(expected {path}/TIMESTAMP/vis_data/*.json)')
    return logs[::-1]


def read_log(path: str) -> Dict[str, List[dict]]:
    """Split the log's lines into training and validation records."""
    train, val = [], []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            record = json.loads(line)
            if any(
                    k.endswith('mAP') or k.startswith('accuracy/')
                    or k in SEG_METRICS for k in record):
                val.append(record)
            elif 'loss' in record:
                train.append(record)
    if not train:
        raise ValueError(f'{path} has no training records with a "loss"')
    return dict(train=train, val=val)


def load_run(run_dir: str) -> Dict:
    """The training records, test metrics and wall time of one run.

    Args:
        run_dir (str): Work dir of tools/train.py and tools/test.py.
    """
    metrics_file = osp.join(run_dir, 'test_metrics.json')
    if not osp.isfile(metrics_file):
        raise FileNotFoundError(
            f'{metrics_file} is missing: run tools/test.py CONFIG CHECKPOINT '
            f'--metrics-out {metrics_file}')
    with open(metrics_file) as f:
        test = json.load(f)
    records = None
    for log in find_logs(run_dir):
        try:
            records = read_log(log)
            break
        except ValueError:  # a test run's log has no training records
            continue
    if records is None:
        raise ValueError(f'no training log under {run_dir!r}')
    seconds_file = osp.join(run_dir, 'train_seconds')
    seconds = None
    if osp.isfile(seconds_file):
        with open(seconds_file) as f:
            seconds = float(f.read().strip())
    return dict(test=test, records=records, seconds=seconds)


def plot(records: Dict[str, List[dict]], out: str, title: str = '') -> None:
    train, val = records['train'], records['val']
    keys = [k for k in VAL_METRICS if val and k in val[-1]]
    panels = 3 if keys else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.6))
    steps = [r.get('iter', r.get('step')) for r in train]
    for key in sorted(k for k in train[-1] if k.startswith('loss')):
        axes[0].plot(
            steps, [r.get(key) for r in train],
            label=key,
            linewidth=2 if key == 'loss' else 1)
    axes[0].set(xlabel='iteration', ylabel='loss', title='training loss')
    axes[0].legend(fontsize=7)
    axes[1].plot(steps, [r['lr'] for r in train])
    axes[1].set(xlabel='iteration', ylabel='lr', title='learning rate')
    if keys:
        for key in keys:
            axes[2].plot([r['step'] for r in val], [r[key] for r in val],
                         marker='o',
                         label=key)
        axes[2].set(xlabel='epoch or iteration', title='validation')
        axes[2].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('path', help='work dir or scalar JSON log')
    parser.add_argument(
        '--out',
        default=None,
        help='PNG to write (default: WORK_DIR/curves.png)')
    args = parser.parse_args(argv)
    # The newest run with training records (a test run logs only metrics).
    for log in find_logs(args.path):
        try:
            records = read_log(log)
            break
        except ValueError:
            continue
    else:
        raise ValueError(f'no training log under {args.path!r}')
    out = args.out or osp.join(
        args.path if osp.isdir(args.path) else osp.dirname(log), 'curves.png')
    plot(records, out, title=osp.basename(osp.dirname(osp.dirname(log))))
    print(f'wrote {out} (from {log})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
