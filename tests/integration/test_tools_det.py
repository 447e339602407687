"""tools/: distributed training, testing, resume, downstream configs, bad
inputs.

Each test runs the real command lines on a tiny generated digits set.
"""
import json
import os
import os.path as osp
import sys
import textwrap

import pytest
from rla_testkit import process
from rla_testkit.checkout import REPO_ROOT, load_tool

DEMO = osp.join(REPO_ROOT, 'configs', 'demo',
                'faster_rcnn_rla_r18_fpn_digits.py')


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('digits')
    load_tool('data/make_digits_coco.py').make_dataset(
        str(root), num_train=8, num_val=4, size=96, seed=3)
    return str(root)


DIGITS = load_tool('data/make_digits_coco.py')


def data_options(root, epochs=1):
    """--cfg-options that point the demo config at ``root`` and shorten it."""
    return DIGITS.cfg_options(root, epochs, coco_layout=False)


def real_config_options(root):
    """--cfg-options for the 1x COCO configs (their file names differ)."""
    return DIGITS.cfg_options(root)


def run(args, cwd=REPO_ROOT, env=None):
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    return process.run(
        args,
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600)


def tool(name):
    return osp.join(REPO_ROOT, 'tools', name)


@pytest.mark.subprocess
def test_dist_train_with_two_processes_then_coco_test(tiny_data, tmp_path):
    work = tmp_path / 'work'
    proc = run([
        'bash',
        tool('dist_train.sh'), DEMO, '2', '--work-dir',
        str(work), '--cfg-options', *data_options(tiny_data)
    ],
               env=dict(PYTHON=sys.executable, PORT='29511'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert 'Distributed launcher: pytorch' in log or 'world_size: 2' in log
    assert "'backend': 'gloo'" in log or 'gloo' in log
    ckpt = work / 'epoch_1.pth'
    assert ckpt.exists()

    proc = run([
        sys.executable,
        tool('test.py'), DEMO,
        str(ckpt), '--work-dir',
        str(tmp_path / 'eval'), '--show-dir', 'shows', '--cfg-options',
        *data_options(tiny_data)
    ])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert 'Average Precision  (AP) @[ IoU=0.50      |' in out
    assert 'coco/bbox_mAP_50' in out
    pictures = [
        f for _, _, fs in os.walk(tmp_path / 'eval') for f in fs
        if f.endswith('.png')
    ]
    assert len(pictures) == 4


@pytest.mark.slow
@pytest.mark.subprocess
def test_resume_continues_from_the_checkpoint(tiny_data, tmp_path):
    work = str(tmp_path / 'work')
    train = [sys.executable, tool('train.py'), DEMO, '--work-dir', work]
    proc = run(train + ['--cfg-options', *data_options(tiny_data, epochs=1)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run(
        train +
        ['--resume', '--cfg-options', *data_options(tiny_data, epochs=2)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 1, iter: 2' in log
    assert 'Epoch(train) [1]' not in log  # epoch 1 is not trained again
    assert 'Epoch(train) [2][2/2]' in log
    assert osp.exists(osp.join(work, 'epoch_2.pth'))
    plot = load_tool('analysis_tools/plot_curves.py')
    out = osp.join(work, 'curves.png')
    assert plot.main([work, '--out', out]) == 0
    assert osp.getsize(out) > 10_000


@pytest.mark.slow
@pytest.mark.subprocess
def test_downstream_config_outside_the_repository(tiny_data, tmp_path):
    # A user's project: inherit the installed rla_mm config, change one field.
    (tmp_path / 'my_faster_rcnn.py').write_text(
        textwrap.dedent("""
        _base_ = '{{$RLA_MM_CONFIGS:}}/faster_rcnn_rla_r50_fpn_1x_coco.py'
        model = dict(roi_head=dict(bbox_head=dict(num_classes=10)))
    """))
    configs = run([sys.executable, '-m', 'rla_mm.configs'], cwd=tmp_path)
    assert configs.returncode == 0, configs.stderr
    env = dict(RLA_MM_CONFIGS=configs.stdout.strip())
    options = real_config_options(tiny_data) + [
        'model.backbone.init_cfg=None', 'train_dataloader.batch_size=4',
        'train_dataloader.dataset.pipeline.2.scale=(128,128)'
    ]
    proc = run([
        sys.executable,
        tool('train.py'), 'my_faster_rcnn.py', '--work-dir', 'work',
        '--cfg-options', *options
    ],
               cwd=tmp_path,
               env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'Epoch(train) [1][2/2]' in proc.stdout + proc.stderr
    assert (tmp_path / 'work' / 'epoch_1.pth').exists()


@pytest.mark.subprocess
def test_missing_data_root_is_named(tmp_path):
    proc = run([
        sys.executable,
        tool('train.py'), DEMO, '--work-dir',
        str(tmp_path), '--cfg-options',
        *data_options(str(tmp_path / 'nowhere'))
    ])
    assert proc.returncode != 0
    assert f"data root '{tmp_path}/nowhere/' does not exist" in proc.stderr


@pytest.mark.subprocess
def test_broken_annotation_file_is_named(tiny_data, tmp_path):
    root = tmp_path / 'broken'
    (root / 'annotations').mkdir(parents=True)
    for split in ('train', 'val'):
        (root / 'annotations' /
         f'instances_{split}.json').write_text('{"images": [')
    proc = run([
        sys.executable,
        tool('train.py'), DEMO, '--work-dir',
        str(tmp_path / 'w'), '--cfg-options', *data_options(str(root))
    ])
    assert proc.returncode != 0
    assert 'instances_train.json' in proc.stderr
    assert 'is not valid JSON' in proc.stderr
    # Valid JSON that is not COCO: what is inside is the dataset's loader's
    # to judge, once (the check reads a few bytes, not a 450 MB file).
    for split in ('train', 'val'):
        (root / 'annotations' / f'instances_{split}.json').write_text(
            json.dumps(dict(images=[], annotations=[])))
    proc = run([
        sys.executable,
        tool('train.py'), DEMO, '--work-dir',
        str(tmp_path / 'w'), '--cfg-options', *data_options(str(root))
    ])
    assert proc.returncode != 0
    assert "KeyError: 'categories'" in proc.stderr


@pytest.mark.subprocess
def test_missing_pretrained_checkpoint_names_the_converter(
        tiny_data, tmp_path):
    # The real 1x config points at checkpoints/rla_resnet50_in1k.pth.
    config = osp.join(REPO_ROOT, 'configs',
                      'faster_rcnn_rla_r50_fpn_1x_coco.py')
    options = real_config_options(tiny_data)
    proc = run([
        sys.executable,
        tool('train.py'), config, '--work-dir',
        str(tmp_path / 'w'), '--cfg-options', *options
    ],
               cwd=tmp_path)
    assert proc.returncode != 0
    assert (
        "pretrained backbone checkpoint 'checkpoints/rla_resnet50_in1k.pth'"
        ' does not exist') in proc.stderr
    assert 'python -m rla_mm.convert_rlanet SRC.pth.tar' in proc.stderr


def test_digits_generator_is_deterministic_and_consistent(tmp_path):
    gen = load_tool('data/make_digits_coco.py')
    outs = []
    for name in ('a', 'b'):
        files = gen.make_dataset(
            str(tmp_path / name), num_train=3, num_val=2, size=64, seed=7)
        with open(files['train']) as f:
            outs.append(json.load(f))
    assert outs[0] == outs[1]
    a = (tmp_path / 'a' / 'train' / '00001.png').read_bytes()
    assert a == (tmp_path / 'b' / 'train' / '00001.png').read_bytes()
    coco = outs[0]
    assert [c['name'] for c in coco['categories']] == list(gen.CLASSES)
    assert len(coco['images']) == 3 and coco['annotations']
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        assert 0 <= x and 0 <= y and x + w <= 64 and y + h <= 64
        xs = [v for poly in ann['segmentation'] for v in poly[0::2]]
        ys = [v for poly in ann['segmentation'] for v in poly[1::2]]
        # the polygons lie in the box (contour points sit on pixel centres)
        assert x <= min(xs) and max(xs) <= x + w
        assert y <= min(ys) and max(ys) <= y + h
        assert 0 < ann['area'] <= w * h
    with pytest.raises(ValueError, match='size'):
        gen.make_dataset(str(tmp_path / 'c'), size=20)
    with pytest.raises(ValueError, match='seed must be >= 0, got -2'):
        gen.make_dataset(str(tmp_path / 'd'), seed=-2)
