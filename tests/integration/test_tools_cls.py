"""The classification demo: digits data, pipeline, train/test/compare
commands."""
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from rla_testkit import process
from rla_testkit.checkout import REPO_ROOT, load_tool

DEMO = {
    name: osp.join(REPO_ROOT, 'configs', 'demo', f'{name}_digits.py')
    for name in ('rla_resnet164', 'preact_resnet164')
}


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('digits_cls'))
    written = load_tool('data/make_digits_cls.py').make_dataset(root, seed=0)
    return root, written


def read_list(path):
    with open(path) as f:
        return [line.split() for line in f]


def test_split_is_stratified_disjoint_and_complete(digits):
    root, written = digits
    assert {
        s: n
        for s, (_, n) in written.items()
    } == dict(
        train=1258, val=179, test=360)
    names = {s: read_list(path) for s, (path, _) in written.items()}
    files = [f for s in names for f, _ in names[s]]
    assert len(set(files)) == 1797  # every scan once
    for split, rows in names.items():
        counts = np.bincount([int(label) for _, label in rows], minlength=10)
        # Each class keeps its 70/10/20 share (classes have 174-183 scans).
        share = dict(train=0.7, val=0.1, test=0.2)[split]
        assert np.all(np.abs(counts - share * 180) <= 0.02 * 180 + 2), counts


def test_images_are_upscaled_real_scans(digits):
    from sklearn.datasets import load_digits
    root, written = digits
    name, label = read_list(written['test'][0])[0]
    img = cv2.imread(osp.join(root, name))
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    index = int(osp.splitext(osp.basename(name))[0])
    scan = load_digits()
    assert int(label) == scan.target[index]
    # Downscaling the image again gives back the 8x8 scan (values 0..16).
    small = cv2.resize(
        img[:, :, 0].astype(np.float32),
        (8, 8), interpolation=cv2.INTER_AREA) * 16 / 255
    assert np.abs(small - scan.images[index]).mean() < 1.5


def test_generator_is_deterministic_and_checks_size(tmp_path):
    gen = load_tool('data/make_digits_cls.py')
    a = gen.make_dataset(str(tmp_path / 'a'), size=16, seed=5)
    b = gen.make_dataset(str(tmp_path / 'b'), size=16, seed=5)
    assert read_list(a['val'][0]) == read_list(b['val'][0])
    first = read_list(a['val'][0])[0][0]
    assert np.array_equal(
        cv2.imread(str(tmp_path / 'a' / first)),
        cv2.imread(str(tmp_path / 'b' / first)))
    c = gen.make_dataset(str(tmp_path / 'c'), size=16, seed=6)
    assert read_list(a['val'][0]) != read_list(c['val'][0])
    with pytest.raises(ValueError, match='size must be an int >= 8'):
        gen.make_dataset(str(tmp_path / 'd'), size=4)
    with pytest.raises(ValueError, match='seed must be >= 0, got -1'):
        gen.make_dataset(str(tmp_path / 'e'), seed=-1)


def test_demo_pipeline_gives_32x32_inputs_and_labels(digits):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS
    root, _ = digits
    cfg = Config.fromfile(DEMO['rla_resnet164'])
    init_default_scope('mmpretrain')
    for split in ('train', 'test'):
        dataset_cfg = cfg[f'{split}_dataloader'].dataset.copy()
        dataset_cfg.data_root = root
        dataset = DATASETS.build(dataset_cfg)
        assert len(dataset) == (1258 if split == 'train' else 360)
        assert dataset.metainfo['classes'][3] == 'three'
        for i in range(3):
            item = dataset[i]
            assert tuple(item['inputs'].shape) == (3, 32, 32)
            label = int(item['data_samples'].gt_label)
            assert label == dataset.get_data_info(i)['gt_label']


def test_demo_recipe_is_the_same_for_both_models():
    rla, plain = (Config.fromfile(DEMO[n]) for n in DEMO)
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                'train_dataloader', 'randomness'):
        assert rla[key] == plain[key], key
    assert rla.model.backbone.rla_channel == 12
    assert plain.model.backbone.rla_channel == 0
    assert rla.model.backbone.depth == plain.model.backbone.depth == 164
    # No flip for digits; the CIFAR pad-4 crop stays.
    assert [t['type'] for t in rla.train_pipeline
            ] == ['LoadImageFromFile', 'RandomCrop', 'PackInputs']


def demo_options(root, depth_options):
    """Shrink the demo to seconds: depth 20, 32 training images, one epoch."""
    opts = [
        'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1'
    ] + depth_options
    for split, n in (('train', 32), ('val', 16), ('test', 16)):
        opts += [
            f'{split}_dataloader.dataset.data_root={root}',
            f'{split}_dataloader.dataset.indices={n}'
        ]
    return opts


@pytest.mark.subprocess
def test_train_test_and_compare_commands(digits, tmp_path):
    root, _ = digits
    runs = []
    for name, options in (('rla_resnet164', [
            'model.backbone.depth=20', 'model.head.in_channels=76'
    ]), ('preact_resnet164',
         ['model.backbone.depth=20', 'model.head.in_channels=64'])):
        work = str(tmp_path / name)
        opts = demo_options(root, options)
        load_tool('train.py').main(
            [DEMO[name], '--work-dir', work, '--cfg-options', *opts])
        best = [
            f for f in os.listdir(work) if f.startswith('best_accuracy_top1')
        ]
        assert len(best) == 1
        metrics_file = osp.join(work, 'test_metrics.json')
        load_tool('test.py').main([
            DEMO[name],
            osp.join(work, best[0]), '--work-dir', work, '--metrics-out',
            metrics_file, '--cfg-options', *opts
        ])
        with open(metrics_file) as f:
            record = json.load(f)
        assert 0 <= record['metrics']['accuracy/top1'] <= 100
        runs.append((work, record['params']))
    # RLA (depth 20, k = 12) has more parameters than its plain twin.
    assert runs[0][1] > runs[1][1]
    out = str(tmp_path / 'curves.png')
    proc = process.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'analysis_tools',
                 'compare_cls_runs.py'), runs[0][0], runs[1][0], '--names',
        'RLA', 'plain', '--out', out, '--summary',
        str(tmp_path / 'summary.md')
    ],
                       capture_output=True,
                       text=True,
                       timeout=300)
    assert proc.returncode == 0, proc.stderr
    rla_row, plain_row = proc.stdout.splitlines()[2:4]
    # ΔParams is relative to the first run.
    assert rla_row.startswith(
        f'| RLA | {runs[0][1]:,} ') and '| +0 |' in rla_row
    assert f'| {runs[1][1] - runs[0][1]:+,} |' in plain_row
    assert cv2.imread(out) is not None


def test_compare_names_a_run_without_test_metrics(tmp_path):
    compare = load_tool('analysis_tools/compare_cls_runs.py')
    with pytest.raises(FileNotFoundError, match='--metrics-out'):
        compare.main([str(tmp_path)])


def test_metrics_out_must_be_json(tmp_path):
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'')
    with pytest.raises(ValueError, match='--metrics-out must end with .json'):
        load_tool('test.py').main(
            [DEMO['rla_resnet164'],
             str(ckpt), '--metrics-out', 'm.txt'])
