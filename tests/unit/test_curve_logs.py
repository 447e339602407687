"""The curve tools read each library's validation records from MMEngine's
scalar logs: MMDetection's mAP, MMPretrain's top-1, MMSegmentation's mIoU."""
import json

import pytest
from rla_testkit.checkout import load_tool

curves = load_tool('analysis_tools/plot_curves.py')
compare_seg = load_tool('analysis_tools/compare_seg_runs.py')

TRAIN = [
    dict(lr=0.01, loss=2.0 - i / 10, iter=25 * i, step=25 * i)
    for i in range(1, 5)
]
VAL = {
    'mmdet': [{
        'coco/bbox_mAP': 0.1,
        'coco/bbox_mAP_50': 0.2,
        'step': 1
    }],
    'mmpretrain': [{
        'accuracy/top1': 40.0,
        'step': 1
    }],
    'mmseg': [
        dict(aAcc=87.0, mIoU=9.0, mAcc=11.0, step=50),
        dict(aAcc=88.0, mIoU=12.0, mAcc=15.0, step=100)
    ],
}


def write_run(folder, val, metrics):
    log = folder / '20261207_000000' / 'vis_data' / '20261207_000000.json'
    log.parent.mkdir(parents=True)
    log.write_text('\n'.join(json.dumps(r) for r in TRAIN + val) + '\n')
    (folder / 'test_metrics.json').write_text(
        json.dumps(dict(params=1000, metrics=metrics)))
    (folder / 'train_seconds').write_text('12.5\n')
    return folder


def keep_figures(monkeypatch, module):
    figures = []
    monkeypatch.setattr(module.plt, 'close', figures.append)
    return figures


@pytest.mark.parametrize('library', sorted(VAL))
def test_validation_records_are_told_from_training_ones(tmp_path, library):
    run = write_run(tmp_path, VAL[library], {})
    records = curves.read_log(curves.find_logs(str(run))[0])
    assert records['train'] == TRAIN
    assert records['val'] == VAL[library]


def test_a_segmentation_run_plots_its_miou(tmp_path, monkeypatch):
    run = write_run(tmp_path, VAL['mmseg'], dict(mIoU=12.0))
    figures = keep_figures(monkeypatch, curves)
    assert curves.main([str(run), '--out', str(tmp_path / 'c.png')]) == 0
    lines = figures[0].axes[2].get_lines()
    assert [line.get_label() for line in lines] == ['mIoU']
    assert list(lines[0].get_ydata()) == [9.0, 12.0]


def test_compare_seg_runs_draws_each_runs_validation_miou(
        tmp_path, monkeypatch):
    runs = []
    for name, miou in (('plain', 12.0), ('rla', 14.0)):
        val = [dict(r, mIoU=r['mIoU'] + miou - 12.0) for r in VAL['mmseg']]
        runs.append(
            curves.load_run(
                str(write_run(tmp_path / name, val, dict(mIoU=miou)))))
    figures = keep_figures(monkeypatch, compare_seg)
    compare_seg.plot_runs(['plain', 'rla'], runs, str(tmp_path / 'c.png'))
    lines = figures[0].axes[1].get_lines()
    assert [line.get_label() for line in lines] == ['plain', 'rla']
    assert [list(line.get_ydata()) for line in lines] == [[9.0, 12.0],
                                                          [11.0, 14.0]]
