"""Safe loading: runner checkpoints and foreign files (rla_mm.safe_loading)."""
import pickle
import sys

import pytest
import torch
import torch.nn as nn
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from rla_testkit import process

import rla_mm  # noqa: F401  (installs the allow-list)
from rla_mm.safe_loading import (install_safe_globals, load_foreign,
                                 loads_weights_only_by_default)

# torch >= 2.6 loads with weights_only=True by default and rla_mm installs its
# allow-list there; an older torch (the compat stack's 2.1) unpickles anything
# by default, and rla_mm leaves it alone. The tests below check each side.
SAFE_BY_DEFAULT = loads_weights_only_by_default()


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out.squeeze(1) - labels)**2).mean())
        return out


class ToyDataset(torch.utils.data.Dataset):
    metainfo = dict(classes=('a', ))

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(
            inputs=torch.full((2, ), float(i)), labels=torch.tensor(float(i)))


def make_runner(work_dir, **kwargs):
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyDataset(),
            batch_size=4,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=kwargs.pop('max_epochs', 1)),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmengine',
        log_level='WARNING',
        **kwargs)


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('runner')
    make_runner(work_dir).train()
    return work_dir / 'epoch_1.pth'


# MMEngine's own loader (what load_from, resume and tools/test.py use), with
# and without rla_mm, in a fresh process each: the allow-list is what makes it
# load.
LOAD_THROUGH_MMENGINE = """
import sys
if sys.argv[2] == 'with':
    import rla_mm
from mmengine.runner.checkpoint import _load_checkpoint
ckpt = _load_checkpoint(sys.argv[1], map_location='cpu')
print(type(ckpt['message_hub']['log_scalars']['train/loss']).__name__)
"""


@pytest.mark.subprocess
def test_mmengine_loads_a_runner_checkpoint_only_with_the_allow_list(
        runner_checkpoint):
    runs = {
        mode:
        process.run([
            sys.executable, '-c', LOAD_THROUGH_MMENGINE,
            str(runner_checkpoint), mode
        ],
                    capture_output=True,
                    text=True,
                    timeout=120)
        for mode in ('with', 'without')
    }
    assert runs['with'].returncode == 0, runs['with'].stderr[-2000:]
    assert runs['with'].stdout.splitlines()[-1] == 'HistoryBuffer'
    if SAFE_BY_DEFAULT:
        assert runs['without'].returncode != 0
        assert 'Weights only load failed' in runs['without'].stderr
    else:  # the old torch's unsafe default loads it without any help
        assert runs['without'].returncode == 0, runs['without'].stderr[-2000:]
        assert runs['without'].stdout.splitlines()[-1] == 'HistoryBuffer'


def test_runner_checkpoint_loads_with_weights_only(runner_checkpoint):
    if not SAFE_BY_DEFAULT:
        # no allow-list installed: the safe unpickler refuses MMEngine's types,
        # and rla_mm does not touch this torch's loading
        with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
            torch.load(
                runner_checkpoint, map_location='cpu', weights_only=True)
        return
    ckpt = torch.load(runner_checkpoint, map_location='cpu', weights_only=True)
    buffers = ckpt['message_hub']['log_scalars']
    assert isinstance(buffers['train/loss'], HistoryBuffer)
    assert buffers['train/loss'].mean() > 0
    assert set(ckpt) >= {'meta', 'state_dict', 'optimizer', 'message_hub'}


def test_allow_list_only_where_torch_loads_weights_only(monkeypatch):
    calls = []
    # raising=False: torch < 2.4 has no add_safe_globals; the stand-in gives it
    # one
    monkeypatch.setattr(
        torch.serialization, 'add_safe_globals', calls.append, raising=False)
    # torch 2.4 and 2.5 have add_safe_globals but unpickle anything by default
    monkeypatch.setattr(torch, '__version__', '2.5.1')
    assert install_safe_globals() is False and calls == []
    monkeypatch.setattr(torch, '__version__', '2.6.0+cu124')
    assert install_safe_globals() is True
    assert HistoryBuffer in calls[0]


@pytest.mark.subprocess
def test_import_works_on_a_torch_without_add_safe_globals():
    # torch < 2.4 has no allow-list at all. This torch's own modules use it
    # while they load, so they load first; then it goes, and rla_mm comes.
    code = ('import torch, mmengine.runner, mmcv.cnn\n'
            "if hasattr(torch.serialization, 'add_safe_globals'):\n"
            '    del torch.serialization.add_safe_globals\n'
            "torch.__version__ = '2.3.1'\n"
            'import rla_mm\n'
            'print(rla_mm.install_safe_globals())')
    proc = process.run([sys.executable, '-c', code],
                       capture_output=True,
                       text=True,
                       timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == 'False'


def test_foreign_files_load_weights_only(tmp_path):
    path = tmp_path / 'weights.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(2))), path)
    assert torch.equal(
        load_foreign(str(path))['state_dict']['w'], torch.ones(2))
    torch.save(dict(x=_Reduce(print, ('hello', ))), path)
    with pytest.raises(pickle.UnpicklingError, match='print'):
        load_foreign(str(path))


def test_foreign_files_on_a_torch_without_weights_only(monkeypatch):
    loaded = []

    def old_load(f, map_location=None):  # torch < 1.13 has no weights_only
        loaded.append((f, map_location))
        return 'checkpoint'

    monkeypatch.setattr(torch, 'load', old_load)
    with pytest.warns(UserWarning, match='unsafe way'):
        assert load_foreign('x.pth') == 'checkpoint'
    assert loaded == [('x.pth', 'cpu')]


def test_resume_from_a_runner_checkpoint(runner_checkpoint, tmp_path):
    runner = make_runner(
        tmp_path, max_epochs=2, resume=True, load_from=str(runner_checkpoint))
    runner.train()
    assert runner.epoch == 2
    assert (tmp_path / 'epoch_2.pth').exists()


class _Reduce:

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def test_arbitrary_globals_are_refused(tmp_path):
    import os
    path = tmp_path / 'evil.pth'
    torch.save(
        dict(state_dict={}, x=_Reduce(os.system, ('echo pwned', ))), path)
    with pytest.raises(pickle.UnpicklingError, match='system'):
        torch.load(path, weights_only=True)


def test_getattr_stand_in_only_reaches_history_buffer_statistics(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save(dict(x=_Reduce(getattr, (HistoryBuffer, '__init__'))), path)
    if not SAFE_BY_DEFAULT:  # no stand-in installed: getattr stays refused
        for name in ('__init__', 'mean'):
            torch.save(dict(x=_Reduce(getattr, (HistoryBuffer, name))), path)
            with pytest.raises(pickle.UnpicklingError, match='getattr'):
                torch.load(path, weights_only=True)
        return
    with pytest.raises(
            pickle.UnpicklingError, match="refusing getattr.*'__init__'"):
        torch.load(path, weights_only=True)
    torch.save(dict(x=_Reduce(getattr, (HistoryBuffer, 'mean'))), path)
    assert torch.load(path, weights_only=True)['x'] is HistoryBuffer.mean


@pytest.mark.subprocess
def test_import_prints_nothing():
    proc = process.run([sys.executable, '-c', 'import rla_mm'],
                       capture_output=True,
                       text=True,
                       timeout=120)
    assert proc.returncode == 0
    assert proc.stdout == '' and proc.stderr == ''
