"""Safe loading of MMEngine runner checkpoints (rla_mm.checkpoint)."""
import pickle
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner

import rla_mm  # noqa: F401  (installs the allow-list)


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
        return dict(inputs=torch.full((2, ), float(i)),
                    labels=torch.tensor(float(i)))


def make_runner(work_dir, **kwargs):
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(dataset=ToyDataset(), batch_size=4,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=kwargs.pop('max_epochs', 1)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmengine',
        log_level='WARNING',
        **kwargs)


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('runner')
    make_runner(work_dir).train()
    return work_dir / 'epoch_1.pth'


def test_runner_checkpoint_loads_with_weights_only(runner_checkpoint):
    ckpt = torch.load(runner_checkpoint, map_location='cpu', weights_only=True)
    buffers = ckpt['message_hub']['log_scalars']
    assert isinstance(buffers['train/loss'], HistoryBuffer)
    assert buffers['train/loss'].mean() > 0
    assert set(ckpt) >= {'meta', 'state_dict', 'optimizer', 'message_hub'}


def test_resume_from_a_runner_checkpoint(runner_checkpoint, tmp_path):
    runner = make_runner(tmp_path, max_epochs=2, resume=True,
                         load_from=str(runner_checkpoint))
    runner.train()
    assert runner.epoch == 2
    assert (tmp_path / 'epoch_2.pth').exists()


def test_without_rla_mm_torch_refuses_the_same_checkpoint(runner_checkpoint):
    # The allow-list is what makes it load: plain torch refuses it.
    code = ('import torch, sys; torch.load(sys.argv[1], weights_only=True)')
    proc = subprocess.run([sys.executable, '-c', code, str(runner_checkpoint)],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert 'Weights only load failed' in proc.stderr


class _Reduce:

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def test_arbitrary_globals_are_refused(tmp_path):
    import os
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={}, x=_Reduce(os.system, ('echo pwned', ))),
               path)
    with pytest.raises(pickle.UnpicklingError, match='system'):
        torch.load(path, weights_only=True)


def test_getattr_stand_in_only_reaches_history_buffer_statistics(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save(dict(x=_Reduce(getattr, (HistoryBuffer, '__init__'))), path)
    with pytest.raises(pickle.UnpicklingError,
                       match="refusing getattr.*'__init__'"):
        torch.load(path, weights_only=True)
    torch.save(dict(x=_Reduce(getattr, (HistoryBuffer, 'mean'))), path)
    assert torch.load(path, weights_only=True)['x'] is HistoryBuffer.mean


def test_import_prints_nothing():
    proc = subprocess.run([sys.executable, '-c', 'import rla_mm'],
                          capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout == '' and proc.stderr == ''
