"""OpenMMLab's ``mim`` drives rla_mm installed from a wheel.

The wheel is built from this checkout and installed with ``pip install
--no-deps --target`` into a temporary folder that is put first on PYTHONPATH,
so ``mim`` (from the environment) finds that rla_mm, its ``.mim/tools``,
``.mim/configs`` and ``.mim/model-index.yml``, and not the checkout. Everything
runs on the CPU (``--launcher pytorch --gpus N`` is ``tools/dist_train.sh``'s
job, tested in test_tools_det.py).
"""
import os
import os.path as osp
import re
import sys
import textwrap
from pathlib import Path

import pytest
from rla_testkit import process
from rla_testkit.checkout import install_wheel, load_tool

from rla_mm.configs import CLS_METAFILE, DET_METAFILE, load_metafile

pytestmark = pytest.mark.subprocess  # the wheel: pip; mim


def mim(args, site, cwd, timeout=600):
    """``mim ARGS`` with the wheel's rla_mm first on the path."""
    env = dict(os.environ, PYTHONPATH=site, PYTHONUNBUFFERED='1')
    return process.run([sys.executable, '-m', 'mim', *args],
                       cwd=cwd,
                       env=env,
                       capture_output=True,
                       text=True,
                       timeout=timeout)


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    """rla_mm's wheel, installed into a folder of its own."""
    site = Path(install_wheel(str(tmp_path_factory.mktemp('wheel'))))
    mim_dir = site / 'rla_mm' / '.mim'
    for name in ('model-index.yml', f'configs/{CLS_METAFILE}',
                 f'configs/{DET_METAFILE}', 'tools/train.py', 'tools/test.py',
                 'tools/analysis_tools/get_flops.py'):
        assert (mim_dir / name).is_file(), name
    return str(site)


def test_mim_search_lists_classifiers_and_detectors(site, tmp_path):
    proc = mim(['search', 'rla_mm', '--field', 'config'], site, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    listed = re.findall(r'^config id: (\S+)$', proc.stdout, re.M)
    expected = [
        m['Name'] for meta in (load_metafile(), load_metafile(DET_METAFILE))
        for m in meta.values()
    ]
    assert len(expected) == 22 + 12
    assert sorted(listed) == sorted(expected)
    # the detection facts come through mim's table as well
    proc = mim([
        'search', 'rla_mm', '--config', 'faster_rcnn_rla_r50_fpn_1x_coco',
        '--field', 'coco/box_ap', 'published_checkpoint'
    ], site, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r'coco/box_ap\s+38\.8\b', proc.stdout)
    assert 'faster_rcnn_r50rla_fpn_1x_coco_388' in proc.stdout


def test_mim_run_get_flops_takes_a_config_name(site, tmp_path):
    name = 'rla_resnet110_1xb128_cifar10.py'
    proc = mim(['run', 'rla_mm', 'get_flops', name], site, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    script = osp.join(site, 'rla_mm', '.mim', 'tools', 'analysis_tools',
                      'get_flops.py')
    assert f'Use the script {script} for command get_flops' in proc.stdout
    params = load_metafile()[name]['Metadata']['Parameters']
    assert f'params: {params:,} ' in proc.stdout
    # a name that is no config says where it looked
    proc = mim(['run', 'rla_mm', 'get_flops', 'no_such_config.py'], site,
               tmp_path)
    assert proc.returncode != 0
    assert 'config file not found: no_such_config.py' in proc.stderr
    assert osp.join(site, 'rla_mm', '.mim', 'configs') in proc.stderr


def test_mim_train_then_test_a_config_by_name(site, tmp_path):
    """``mim train`` finds the config inside the installed package and runs its
    ``.mim/tools/train.py``; ``mim test --checkpoint`` evaluates the result."""
    data = str(tmp_path / 'digits_cls')
    load_tool('data/make_digits_cls.py').make_dataset(data, size=32, seed=0)
    opts = [
        'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1', 'model.backbone.depth=20',
        'model.head.in_channels=76'
    ]
    for split, n in (('train', 16), ('val', 8), ('test', 8)):
        opts += [
            f'{split}_dataloader.dataset.data_root={data}',
            f'{split}_dataloader.dataset.indices={n}'
        ]
    name = 'rla_resnet164_digits.py'  # configs/demo/ in the package
    config = osp.join(site, 'rla_mm', '.mim', 'configs', 'demo', name)
    tools = osp.join(site, 'rla_mm', '.mim', 'tools')
    work = str(tmp_path / 'work')
    proc = mim(
        ['train', 'rla_mm', name, '--work-dir', work, '--cfg-options', *opts],
        site, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'will use {config} instead' in proc.stdout
    assert (f'Training command is {sys.executable} {tools}/train.py {config} '
            '--launcher none') in proc.stdout
    assert 'Training finished successfully' in proc.stdout
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt)

    proc = mim([
        'test', 'rla_mm', name, '--checkpoint', ckpt, '--work-dir', work,
        '--cfg-options', *opts
    ], site, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'{tools}/test.py {config} {ckpt} --launcher none' in proc.stdout
    found = re.search(r'accuracy/top1: ([\d.]+)', proc.stdout + proc.stderr)
    assert found and 0 <= float(found.group(1)) <= 100


def test_wheel_carries_configs_and_model_index(site, tmp_path):
    """From the installed wheel alone: configs and the model hub resolve inside
    it (moved here from test_model_zoo.py to reuse this module's wheel)."""
    mim_dir = osp.join(site, 'rla_mm', '.mim')
    code = textwrap.dedent("""
        import rla_mm
        from mmpretrain import get_model
        from rla_mm.configs import configs_dir
        assert rla_mm.__file__.startswith(sys.argv[1]), rla_mm.__file__
        rla_mm.register_model_zoo()
        model = get_model('xception_1xb128_cifar100')
        print(configs_dir(), sum(p.numel() for p in model.parameters()))
    """)
    proc = process.run([sys.executable, '-c', 'import sys\n' + code, site],
                       capture_output=True,
                       text=True,
                       cwd=tmp_path,
                       env={
                           **os.environ, 'PYTHONPATH': site
                       },
                       timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    configs, params = proc.stdout.split()[-2:]
    assert configs == osp.join(mim_dir, 'configs')
    assert int(params) == load_metafile(
    )['xception_1xb128_cifar100.py']['Metadata']['Parameters']
