"""README.md's shell commands, run as written in a new shell.

Every ```bash block of the README is read, split into commands and run in
README order by ONE bash session, as a reader following the README in a new
terminal would: no virtualenv activated, ``.venv/bin`` not on PATH, no PYTHON
or PYTHONPATH. The session runs in a scratch folder that holds the checkout's
``configs/``, ``tools/``, ``demo/`` and ``.venv`` (links), so what the commands
write (``work_dirs/``, ``checkpoints/``, ``outputs/``) stays out of the
checkout.

What needs COCO, ImageNet, GPUs, a Slurm cluster or the authors' downloads is
rewritten (the embedded digits data, CPU processes with gloo, a stand-in
``srun`` that prints the command line it gets, the authors' files written in
their format from random weights, torchvision's ResNet file with random weights
in a torch hub cache), and every rewrite is printed beside its command. A
README command that no rule here knows fails the test, so the README and this
test cannot drift apart.
"""
import json
import math
import os
import os.path as osp
import pathlib
import re
import shlex
import stat
import subprocess
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import pytest
import torch
from rla_testkit import process
from rla_testkit import rla_functional as ref
from rla_testkit.checkout import REPO_ROOT, load_script, load_tool
from rla_testkit.markdown import all_shell_commands, split_env
from rla_testkit.models import save_untrained
from rla_testkit.process import free_port
from rla_testkit.reference_checkpoints import write_published

from rla_mm.converters.published import published_checkpoints

README = osp.join(REPO_ROOT, 'README.md')
DIGITS = load_tool('data/make_digits_coco.py')
COCO_TABLE = 'Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all'
PUBLISHED = published_checkpoints()
#: what the README's ``--all`` command writes, as later commands name them
CONVERTED = {f'checkpoints/{e.converted}' for e in PUBLISHED}
#: seconds the README's commands may take in all (1.5 min on a quiet 2-core
#: machine, 7 min beside other jobs)
SESSION_TIMEOUT = 1200


def fresh_env() -> Dict[str, str]:
    """The environment of a new terminal: no venv active, no .venv/bin on
    PATH."""
    venv_bin = osp.realpath(osp.join(sys.prefix, 'bin'))
    path = os.pathsep.join(
        p for p in os.environ.get('PATH', '').split(os.pathsep)
        if p and osp.realpath(p) != venv_bin)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ('VIRTUAL_ENV', 'PYTHON', 'PYTHONPATH', 'PYTHONHOME',
                     'CONDA_PREFIX', 'PS1')
    }
    env.update(PATH=path, PYTHONUNBUFFERED='1')
    return env


class Step:
    """One README command: what runs, the rewrites applied, what must hold."""

    def __init__(self,
                 line: int,
                 command: str,
                 shell: Optional[str] = None,
                 rewrites: Tuple[str, ...] = (),
                 skip: Optional[str] = None,
                 checks: Tuple[Callable[[str], None], ...] = ()):
        self.line, self.command = line, command
        self.shell = command if shell is None else shell
        self.rewrites, self.skip, self.checks = list(rewrites), skip, checks

    def report(self) -> str:
        text = f'README:{self.line}: {self.command}'
        if self.skip:
            return f'{text}\n    not run: {self.skip}'
        for r in self.rewrites:
            text += f'\n    rewrite: {r}'
        return text


class ReadmeSession:
    """Turns README commands into the steps of one shell session in ``cwd``."""

    def __init__(self, cwd: str, coco_root: str, imagenet_root: str):
        self.cwd, self.coco_root, self.imagenet_root = (cwd, coco_root,
                                                        imagenet_root)
        self.steps: List[Step] = []
        self.ran: Dict[str, int] = {}

    # what the configs are rewritten to
    def data_options(self, config: str) -> Tuple[List[str], str]:
        with open(osp.join(self.cwd, config)) as f:
            text = osp.basename(config) + f.read()  # a config or its _base_
        if '_coco.py' in text:
            assert 'rcnn' in text, f'{config}: only R-CNN rewrites here'
            heads = ['bbox_head'
                     ] + (['mask_head'] if 'mask_rcnn' in text else [])
            # an R-CNN trained for two iterations scores its boxes low: keep
            # them all, so that the COCO evaluation has detections to score
            return DIGITS.cfg_options(
                self.coco_root, scale=128
            ) + [
                'model.backbone.init_cfg=None',
                'train_dataloader.batch_size=2',
                'model.test_cfg.rcnn.score_thr=0.0'
            ] + [f'model.roi_head.{h}.num_classes=10' for h in heads], (
                f'COCO -> the digits COCO set ({self.coco_root}: 8 train / 4 '
                'val images at 128 px, 10 classes, so ' + ' and '.join(heads) +
                ' num_classes=10), no ImageNet init, 1 epoch, test score '
                'threshold 0')
        if '_in1k.py' in text:
            opts = [
                'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
                'train_dataloader.batch_size=2'
            ]
            for split in ('train', 'val', 'test'):
                opts += [
                    f'{split}_dataloader.dataset.data_root='
                    f'{self.imagenet_root}',
                    f'{split}_dataloader.num_workers=0',
                    f'{split}_dataloader.persistent_workers=False'
                ]
            return opts, (f'ImageNet -> digits in ImageNet\'s layout '
                          f'({self.imagenet_root}: 8 train / 4 val images), '
                          '1 epoch')
        raise AssertionError(f'no data rewrite for config {config}')

    def checkpoint(self, path: str) -> Tuple[str, List[str]]:
        """A checkpoint the session has made in place of one it has not."""
        if path.endswith('epoch_12.pth'):
            made = path.replace('epoch_12.pth', 'epoch_1.pth')
            return made, [f'{path} -> {made} (1-epoch training above)']
        return path, []

    def add(self, line: int, command: str) -> None:
        env, words = split_env(command)
        prog = words[0]
        handler = {
            'make': self.make,
            'source': self.as_written,
            'pip': self.pip,
            'python': self.python,
            'tools/dist_train.sh': self.dist_train,
            'tools/dist_test.sh': self.dist_test,
            'tools/slurm_train.sh': self.slurm,
            'tools/slurm_test.sh': self.slurm,
        }.get(prog)
        assert handler, (
            f'README:{line}: no rule in {__file__} runs `{command}`;'
            ' add one')
        if command in self.ran:
            self.steps.append(
                Step(
                    line,
                    command,
                    skip='the same command ran '
                    f'at README:{self.ran[command]}'))
            return
        self.ran[command] = line
        self.steps.append(handler(line, command, env, words))

    def as_written(self, line, command, env, words) -> Step:
        return Step(line, command)

    def make(self, line, command, env, words) -> Step:
        target = words[1]
        dry = process.run(['make', '-n', '-C', REPO_ROOT, target],
                          capture_output=True,
                          text=True,
                          timeout=60)
        assert dry.returncode == 0, (f'README:{line}: make {target}: '
                                     f'{dry.stderr}')
        return Step(
            line,
            command,
            skip=f'`make {target}` is a Makefile target '
            '(checked with make -n): set-up, this suite or a demo')

    def pip(self, line, command, env, words) -> Step:
        """``pip install /path/to/rla_mm``: pip resolves this checkout as that
        path, without installing (``--dry-run``) or reaching the network."""
        assert words[1:] == [
            'install', '/path/to/rla_mm'
        ], (f'README:{line}: only `pip install /path/to/rla_mm` has a rule')
        shell = shlex.join([
            '.venv/bin/python', '-m', 'pip', 'install', '--dry-run',
            '--no-deps', '--no-index', '--no-build-isolation', REPO_ROOT
        ])
        return Step(
            line,
            command,
            shell, [
                f'/path/to/rla_mm -> {REPO_ROOT}; --dry-run --no-deps '
                '--no-index --no-build-isolation with the venv\'s pip (the '
                'session has not activated it yet; the suite\'s wheel tests '
                'install for real)'
            ],
            checks=(expect('Would install rla_mm-'), ))

    def python(self, line, command, env, words) -> Step:
        """``python SCRIPT ARGS``: the rule of SCRIPT (:data:`PYTHON_RULES`)
        gives the arguments it runs with, the rewrites and the checks."""
        script = osp.normpath(words[1])
        rule = PYTHON_RULES.get(script)
        assert rule, f'README:{line}: no rule runs {script}'
        run = rule(self, line, list(words[2:]))
        shell = shlex.join(run.env + ['python', words[1]] + run.args)
        return Step(line, command, shell, run.rewrites, checks=run.checks)

    def dist_train(self, line, command, env, words) -> Step:
        config, gpus, rest = words[1], words[2], words[3:]
        opts, data = self.data_options(config)
        assert env.get(
            'NNODES',
            '1') == '1', (f'README:{line}: no rule runs a multi-node command')
        rewrites = [f'{gpus} GPUs -> 2 CPU processes (gloo)', data]
        shell = shlex.join([
            'tools/dist_train.sh', config, '2', *rest, '--cfg-options', *opts
        ])
        shell = f'PORT={free_port()} {shell}'
        work = osp.join('work_dirs', osp.splitext(osp.basename(config))[0])
        return Step(
            line,
            command,
            shell,
            rewrites,
            checks=(expect('Epoch(train) [1][2/2]'),
                    expect("'backend': 'gloo'"), expect('GPU number: 2'),
                    exists(self.cwd, work, 'epoch_1.pth')))

    def dist_test(self, line, command, env, words) -> Step:
        config, ckpt, gpus, rest = words[1], words[2], words[3], words[4:]
        ckpt, notes = self.checkpoint(ckpt)
        opts, data = self.data_options(config)
        shell = shlex.join([
            'tools/dist_test.sh', config, ckpt, '2', *rest, '--cfg-options',
            *opts
        ])
        return Step(
            line,
            command,
            f'PORT={free_port()} {shell}',
            [f'{gpus} GPUs -> 2 CPU processes (gloo)', *notes, data],
            checks=(expect(COCO_TABLE), ))

    def slurm(self, line, command, env, words) -> Step:
        gpus = env.get('GPUS', '8')
        per_node = env.get('GPUS_PER_NODE', '8')
        return Step(
            line,
            command,
            f'PATH="$PWD/fake_slurm:$PATH" {command}', [
                'no Slurm here: a stand-in srun prints the command line the '
                'script builds (nothing trains)'
            ],
            checks=(expect(f'--ntasks={gpus}'),
                    expect(f'--ntasks-per-node={per_node}'),
                    expect('--launcher slurm'), runs_this_python))


class Run:
    """What a rule makes of ``python SCRIPT ARGS``: the arguments (and leading
    ``VAR=value`` words) it runs with, the rewrites and the checks of its
    output. A rule writes what the command reads before it returns."""

    def __init__(self,
                 args: List[str],
                 rewrites: Sequence[str] = (),
                 checks: Sequence[Callable[[str], None]] = (),
                 env: Sequence[str] = ()):
        self.args, self.rewrites = args, list(rewrites)
        self.checks, self.env = tuple(checks), list(env)


def run_test(session: ReadmeSession, line: int, args: List[str]) -> Run:
    """``tools/test.py CONFIG CKPT``: on the digits data; a checkpoint the
    session has not made is replaced by one it has."""
    config, ckpt = args[0], args[1]
    ckpt, notes = session.checkpoint(ckpt)
    opts, data = session.data_options(config)
    args = [config, ckpt] + args[2:] + ['--cfg-options'] + opts
    rewrites = notes + [data]
    checks = (expect(COCO_TABLE)
              if config.endswith('_coco.py') else expect('accuracy/top1'), )
    if config.endswith('_coco.py') and ckpt in CONVERTED:
        # one number per tensor (rla_testkit.reference_checkpoints.small): no
        # boxes, so CocoMetric has nothing to score and prints no table
        rewrites.append(f'{ckpt}: converted above from the authors\' '
                        'format with one number per tensor: it predicts '
                        'no boxes; checked: it loads and tests every '
                        'val image')
        checks = (expect(f'Load checkpoint from {ckpt}'),
                  expect('Epoch(test) [4/4]'))
    return Run(args, rewrites, checks)


def run_train(session: ReadmeSession, line: int, args: List[str]) -> Run:
    """``tools/train.py CONFIG``: one epoch on the digits data."""
    opts, data = session.data_options(args[0])
    work = osp.join('work_dirs', osp.splitext(osp.basename(args[0]))[0])
    return Run(args + ['--cfg-options'] + opts, [data],
               (trained_one_epoch, exists(session.cwd, work, 'epoch_1.pth')))


def run_rlanet_converter(session: ReadmeSession, line: int,
                         args: List[str]) -> Run:
    """``rlanet_to_rla_mm.py --all SRC DST`` on every published file, or
    ``rlanet_to_rla_mm.py SRC DST`` on one classifier, written here in the
    authors' format (no download)."""
    if args[0] == '--all':
        src, dst = args[1], args[2]
        os.makedirs(osp.join(session.cwd, src))
        write_published(pathlib.Path(session.cwd, src))
        rewrites = [
            f'{src}: every published file ({len(PUBLISHED)}) under the '
            'authors\' name, in their formats, one number per tensor '
            '(rla_testkit.reference_checkpoints.write_published; no download)'
        ]
        checks = [
            expect(f'converted {len(PUBLISHED)} of {len(PUBLISHED)} files '
                   f'in {src}')
        ] + [exists(session.cwd, dst, e.converted) for e in PUBLISHED]
        return Run(args, rewrites, checks)
    src, dst = args[0], args[1]
    arch = published_arch(src)
    write_reference_checkpoint(osp.join(session.cwd, src), arch)
    rewrites = [
        f'{src}: written here in the authors\' format from random {arch} '
        'weights (no download)'
    ]
    return Run(args, rewrites,
               (expect(f'converted {arch}'), exists(session.cwd, dst)))


def run_resnet_converter(session: ReadmeSession, line: int,
                         args: List[str]) -> Run:
    """``resnet_to_rla_mm.py torchvision://ARCH DST``: torchvision's file
    with random weights in a torch hub cache (no download)."""
    src, dst = args[0], args[1]
    assert src.startswith('torchvision://'), (
        f'README:{line}: only a torchvision:// source has a rule')
    cache = osp.join(session.cwd, 'torch_home')
    write_torchvision_cache(cache, src[len('torchvision://'):])
    rewrites = [
        f'{src}: torchvision\'s file with random weights '
        f'in the torch hub cache, TORCH_HOME={cache} (no '
        'download)'
    ]
    if dst in CONVERTED:
        made = osp.join('work_dirs', 'plain_init', osp.basename(dst))
        rewrites.append(f'{dst} -> {made} (the --all command above '
                        'wrote that name, and later commands read it)')
        dst = args[1] = made
    return Run(
        args,
        rewrites,
        (expect('Loads checkpoint by torchvision backend'), expect(f'{dst}: '),
         expect(f'main-path tensors of {src} for RLAResNet; the '
                'RLA parts start fresh'), exists(session.cwd, dst)),
        env=[f'TORCH_HOME={cache}'])


def run_visualize(session: ReadmeSession, line: int, args: List[str]) -> Run:
    """``visualize_rla.py CONFIG CKPT IMAGE --out-dir OUT``: on a digit scan;
    a converted checkpoint is replaced by the config's model with random
    weights."""
    config, ckpt, image = args[0], args[1], args[2]
    out = args[args.index('--out-dir') + 1]
    rewrites = []
    write_demo_image(osp.join(session.cwd, image))
    if ckpt in CONVERTED:
        # one number per tensor: the hidden state overflows (inf, NaN)
        made = osp.join('work_dirs', 'random', osp.basename(ckpt))
        rewrites.append(f'{ckpt} -> {made} (the config\'s model with '
                        'random weights, saved here; the file converted '
                        'above holds one number per tensor, and its '
                        'hidden state overflows)')
        args[1] = made
        save_untrained(
            osp.join(session.cwd, config), osp.join(session.cwd, made))
    figures = ('hidden_state.png', 'update_strength.png', 'cam.png')
    return Run(
        args, rewrites,
        (expect(f'wrote {", ".join(figures)} and rla_hidden.json to {out}'),
         *(exists(session.cwd, out, f) for f in figures),
         finite_updates(osp.join(session.cwd, out, 'rla_hidden.json'))))


def run_export(session: ReadmeSession, line: int, args: List[str]) -> Run:
    """``export_onnx.py CONFIG CKPT --out-dir OUT --verify IMAGES``: a
    converted detector is replaced by the one trained above."""
    config, ckpt = args[0], args[1]
    out = args[args.index('--out-dir') + 1]
    rewrites = []
    if ckpt in CONVERTED:
        made = osp.join('work_dirs',
                        osp.splitext(osp.basename(config))[0], 'epoch_1.pth')
        assert any(
            s.shell.startswith(f'python tools/train.py {config}')
            for s in session.steps), (
                f'README:{line}: no earlier command trains {config}')
        heads = [
            o for o in session.data_options(config)[0]
            if o.endswith('.num_classes=10')
        ]
        rewrites.append(f'{ckpt} -> {made} (the detector trained above, '
                        'so ' + ', '.join(heads) + '; the file converted '
                        'above holds one number per tensor and '
                        'predicts no boxes to compare)')
        args[1] = made
        args += ['--cfg-options', *heads]
    images = args[args.index('--verify') + 1:]
    images = images[:next((i for i, a in enumerate(images)
                           if a.startswith('--')), len(images))]
    for image in images:
        write_demo_image(osp.join(session.cwd, image))
    return Run(args, rewrites,
               (expect(f'export.json and export.md to {out}'),
                expect('- ok: True'), exists(session.cwd, out, 'model.onnx'),
                verified(osp.join(session.cwd, out, 'export.json'))))


def run_image_demo(session: ReadmeSession, line: int, args: List[str]) -> Run:
    """``image_demo.py IMAGE CONFIG ... --out-dir OUT``: on a digit scan."""
    image, out = args[0], args[args.index('--out-dir') + 1]
    name = osp.basename(image)
    write_demo_image(osp.join(session.cwd, image))
    rewrites = [
        f'{image}: a digit scan with noise, written here (no download)'
    ]
    checks = (expect('1 image(s): pictures in'),
              exists(session.cwd, out, 'vis', name),
              exists(session.cwd, out, 'preds',
                     osp.splitext(name)[0] + '.json'))
    return Run(args, rewrites, checks)


#: One rule per Python script the README runs.
PYTHON_RULES: Dict[str, Callable[[ReadmeSession, int, List[str]], Run]] = {
    'tools/test.py': run_test,
    'tools/train.py': run_train,
    'tools/model_converters/rlanet_to_rla_mm.py': run_rlanet_converter,
    'tools/model_converters/resnet_to_rla_mm.py': run_resnet_converter,
    'tools/analysis_tools/visualize_rla.py': run_visualize,
    'tools/deployment/export_onnx.py': run_export,
    'demo/image_demo.py': run_image_demo,
}


def expect(text: str) -> Callable[[str], None]:

    def check(output: str) -> None:
        assert text in output, f'expected {text!r} in the output'

    return check


def trained_one_epoch(output: str) -> None:
    """The log shows the last iteration of epoch 1
    (N/N, N the epoch's length)."""
    assert re.search(r'Epoch\(train\) \[1\]\[(\d+)/\1\]', output), \
        'no "Epoch(train) [1][N/N]" line in the log'


def runs_this_python(output: str) -> None:
    """The srun line runs the session's Python (the venv's, not PATH's)."""
    found = re.search(r'^srun .* (\S+) -u \S+/tools/', output, re.M)
    assert found, 'no srun line with a Python in the output'
    assert osp.samefile(found.group(1), sys.executable), found.group(1)


def exists(*parts: str) -> Callable[[str], None]:

    def check(output: str) -> None:
        assert osp.exists(osp.join(*parts)), f'{osp.join(*parts)} is missing'

    return check


def write_demo_image(path: str) -> None:
    """One of scikit-learn's digit scans as a colour picture at ``path``, with
    seeded noise (written once). On a flat background many anchors of a barely
    trained detector score the same, and PyTorch and ONNX Runtime may keep
    different ones of a tie; the noise breaks the ties."""
    import cv2
    import numpy as np
    from sklearn.datasets import load_digits
    if osp.exists(path):
        return
    scan = load_digits().images[0]
    image = cv2.resize((scan * 255 / 16).astype('uint8'), (64, 64))
    noise = np.random.RandomState(0).randint(0, 48, (64, 64, 3))
    image = np.clip(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) + noise, 0, 255)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    cv2.imwrite(path, image.astype('uint8'))


def write_torchvision_cache(torch_home: str, arch: str) -> None:
    """torchvision's ``arch`` with random weights, saved where
    ``torchvision://arch`` finds it in the torch hub cache under
    ``torch_home``."""
    import torchvision
    from mmengine.runner.checkpoint import get_torchvision_models
    url = get_torchvision_models()[arch]
    folder = osp.join(torch_home, 'hub', 'checkpoints')
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(0)
    torch.save(
        getattr(torchvision.models, arch)().state_dict(),
        osp.join(folder, osp.basename(url)))


def finite_updates(path: str) -> Callable[[str], None]:
    """visualize_rla.py's numbers: one record per hidden-state update, every
    figure finite."""

    def check(output: str) -> None:
        with open(path) as f:
            updates = json.load(f)['updates']
        assert updates, f'{path}: no hidden-state update recorded'
        values = [
            v for u in updates for v in u.values() if isinstance(v, float)
        ]
        assert values and all(math.isfinite(v) for v in values), \
            f'{path}: a figure is not finite'

    return check


def verified(path: str) -> Callable[[str], None]:
    """export_onnx.py --verify compared detections, and they agreed."""

    def check(output: str) -> None:
        with open(path) as f:
            verify = json.load(f)['verify']
        assert verify['ok'], verify['problems']
        assert verify['num_ref'] == verify['num_got'] == verify['matched'] \
            > 0, f'{path}: no detections compared: {verify}'

    return check


def published_arch(path: str) -> str:
    """The arch of an authors' file by its published name
    (``resnet50_rla_2283.pth.tar`` -> ``rla_resnet50``), else the file's
    stem."""
    by_file = {e.file: e.arch for e in PUBLISHED if e.kind == 'classifier'}
    return by_file.get(osp.basename(path), osp.basename(path).split('.')[0])


def write_reference_checkpoint(path: str, arch: str) -> None:
    """Random weights saved the way the authors' ImageNet training script
    does."""
    depth = int(re.match(r'rla_resnet(\d+)$', arch).group(1))
    sd = ref.random_resnet_state_dict(depth, num_classes=1000)
    torch.save(
        dict(
            epoch=120,
            arch=arch,
            best_acc1=torch.tensor(77.0),
            state_dict={
                f'module.{k}': v
                for k, v in sd.items()
            }), path)


def make_imagenet_layout(root: str) -> None:
    """Digits in ImageNet's layout: {train,val}/*.png and
    meta/{train,val}.txt."""
    src = osp.join(root, 'src')
    load_tool('data/make_digits_cls.py').make_dataset(src, size=32, seed=1)
    os.makedirs(osp.join(root, 'meta'))
    for split, count in (('train', 8), ('val', 4)):
        os.makedirs(osp.join(root, split))
        with open(osp.join(src, 'meta', f'{split}.txt')) as f:
            lines = f.read().splitlines()[::50][:count]
        out = []
        for entry in lines:
            name, label = entry.split()
            os.replace(osp.join(src, name), osp.join(root, name))
            out.append(f'{osp.basename(name)} {label}\n')
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.writelines(out)


@pytest.fixture(scope='module')
def scratch(tmp_path_factory):
    """A folder that looks like the checkout, and the data the rewrites use."""
    root = tmp_path_factory.mktemp('readme')
    work = root / 'shell'
    work.mkdir()
    for name in ('configs', 'tools', 'demo'):  # rla_mm: the installed package
        os.symlink(osp.join(REPO_ROOT, name), work / name)
    os.symlink(sys.prefix, work / '.venv')
    fake = work / 'fake_slurm'
    fake.mkdir()
    (fake / 'srun').write_text('#!/bin/sh\necho "srun $*"\n')
    (fake / 'srun').chmod(stat.S_IRWXU)
    coco = str(root / 'digits_coco')
    DIGITS.make_dataset(coco, num_train=8, num_val=4, size=96, seed=3)
    imagenet = str(root / 'imagenet')
    make_imagenet_layout(imagenet)
    return str(work), coco, imagenet


def session_script(steps: List[Step]) -> str:
    lines = []
    for i, step in enumerate(steps):
        if step.skip:
            continue
        lines += [
            f'echo "@@begin {i}"',
            f'{{ {step.shell}; }} || {{ echo "@@failed {i} rc=$?"; exit 1; }}',
            f'echo "@@end {i}"'
        ]
    return '\n'.join(lines) + '\n'


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.timeout(SESSION_TIMEOUT + 300)
def test_readme_shell_commands_run_as_written_in_a_new_shell(scratch, capsys):
    cwd, coco, imagenet = scratch
    session = ReadmeSession(cwd, coco, imagenet)
    with open(README) as f:
        text = f.read()
    for line, command in all_shell_commands(text):
        session.add(line, command)
    steps = session.steps
    covered = ' '.join(s.shell for s in steps if not s.skip)
    # what the README must show and this test must run (issue: README commands)
    for needed in (
            'pip install', 'source .venv/bin/activate',
            'rlanet_to_rla_mm.py --all', 'python tools/train.py',
            'tools/dist_train.sh configs/faster_rcnn_rla_r50_fpn_1x_coco.py 2',
            'tools/slurm_train.sh', 'python tools/test.py',
            'tools/dist_test.sh', 'python demo/image_demo.py',
            'tools/model_converters/resnet_to_rla_mm.py',
            'tools/analysis_tools/visualize_rla.py',
            'tools/deployment/export_onnx.py'):
        assert needed in covered, f'no README command runs {needed!r}'

    with capsys.disabled():
        print('\nREADME commands (tests/integration/test_readme_commands.py):')
        for step in steps:
            print(step.report())
    env = fresh_env()
    assert not osp.samefile(
        process.run(['bash', '-c', 'command -v python || echo /dev/null'],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60).stdout.strip(),
        sys.executable), 'the fresh shell still finds the venv python'
    proc = process.run(['bash', '-c', session_script(steps)],
                       cwd=cwd,
                       env=env,
                       capture_output=True,
                       text=True,
                       timeout=SESSION_TIMEOUT)
    out = proc.stdout + proc.stderr
    for i, step in enumerate(steps):
        if step.skip:
            continue
        assert f'@@begin {i}\n' in proc.stdout, (
            f'{step.report()}\ndid not run; output:\n{out[-3000:]}')
        part = proc.stdout.split(f'@@begin {i}\n', 1)[1]
        assert f'@@end {i}\n' in part, (
            f'{step.report()}\nfailed:\n{part[-3000:]}\n{proc.stderr[-3000:]}')
        part = part.split(f'@@end {i}\n', 1)[0]
        for check in step.checks:
            try:
                check(part)
            except AssertionError as err:
                raise AssertionError(f'{step.report()}\n{err}; output:\n'
                                     f'{part[-3000:]}') from None
    assert proc.returncode == 0, out[-3000:]


def choose_python(cwd: str, **env) -> subprocess.CompletedProcess:
    script = ('source tools/python_env.sh && rla_mm_python tools '
              '&& echo "chosen: $RLA_MM_PYTHON"')
    return process.run(['bash', '-c', script],
                       cwd=cwd,
                       env=dict(fresh_env(), **env),
                       capture_output=True,
                       text=True,
                       timeout=60)


@pytest.mark.subprocess
def test_tools_choose_their_python_or_say_what_to_do(scratch, tmp_path):
    cwd = scratch[0]
    venv_python = osp.join(cwd, '.venv', 'bin', 'python')
    # a new shell: the checkout's .venv
    proc = choose_python(cwd)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f'chosen: {venv_python}'
    # PYTHON overrides it, an activated virtualenv comes before it
    proc = choose_python(cwd, PYTHON=sys.executable)
    assert proc.stdout.strip() == f'chosen: {sys.executable}'
    proc = choose_python(cwd, VIRTUAL_ENV=sys.prefix)
    assert proc.stdout.strip() == f'chosen: {sys.prefix}/bin/python'
    # an interpreter without the stack stops the scripts with what to do
    process.run([
        sys.executable, '-m', 'venv', '--without-pip',
        str(tmp_path / 'bare')
    ],
                check=True,
                timeout=120)
    bare = str(tmp_path / 'bare' / 'bin' / 'python')
    proc = choose_python(cwd, PYTHON=bare)
    assert proc.returncode == 1
    assert f"'{bare}'" in proc.stderr and 'PYTHON is set' in proc.stderr
    assert 'it cannot import torch mmengine mmcv' in proc.stderr
    assert 'make setup' in proc.stderr
    proc = choose_python(cwd, PYTHON=str(tmp_path / 'nowhere' / 'python'))
    assert proc.returncode == 1
    assert 'there is no such interpreter' in proc.stderr
    # the Python tools too, when run by a Python without the stack
    for tool in ('tools/test.py', 'tools/analysis_tools/get_flops.py',
                 'tools/model_converters/rlanet_to_rla_mm.py'):
        proc = process.run([bare, tool, 'configs/x.py'],
                           cwd=cwd,
                           env=fresh_env(),
                           capture_output=True,
                           text=True,
                           timeout=60)
        assert proc.returncode == 1, proc.stderr
        assert f'this Python ({bare}) cannot import torch, mmengine, mmcv' \
            in proc.stderr
        assert 'source .venv/bin/activate' in proc.stderr
        checkout_venv = osp.join(REPO_ROOT, '.venv', 'bin', 'python')
        assert (f'{checkout_venv} {tool} configs/x.py'
                if osp.exists(checkout_venv) else 'make setup') in proc.stderr
    # the whole chain with no activation: script -> .venv -> torchrun
    # -> train.py
    proc = process.run([
        'bash', 'tools/dist_train.sh',
        'configs/faster_rcnn_rla_r50_fpn_1x_coco.py', '1', '--help'
    ],
                       cwd=cwd,
                       env=dict(fresh_env(), PORT=str(free_port())),
                       capture_output=True,
                       text=True,
                       timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'usage: train.py' in proc.stdout


def test_readme_imagenet_table_is_the_metafiles():
    """The README's ImageNet table is configs/README.md's (written from
    configs/metafile.yml by .dev_scripts/doc_tables.py), links into
    configs/."""
    with open(README) as f:
        text = f.read()
    section = text[text.index('### ImageNet-1k (MMPretrain)'):]
    section = section[section.index('| config |'):]
    table = section[:section.index('\n\n') + 1]
    written = load_script('.dev_scripts/doc_tables.py').in1k_table()
    assert table == written.replace('](rla_', '](configs/rla_')
