"""Truncated or corrupt checkpoints end with one line that names the file."""
import pickle
import zipfile

import pytest
import torch
import torch.nn as nn
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

from rla_mm.safe_loading import (CorruptCheckpointError, check_checkpoint_file,
                                 checkpoint_problem, install_checkpoint_check)


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = nn.Conv2d(3, 8, 3)
    path = tmp_path / 'whole.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), path)
    return model, path


def truncated_copy(path, tmp_path, keep=0.6):
    data = path.read_bytes()
    out = tmp_path / 'truncated.pth'
    out.write_bytes(data[:int(len(data) * keep)])
    return out


def test_a_whole_file_passes(checkpoint):
    _, path = checkpoint
    assert checkpoint_problem(str(path)) is None
    assert check_checkpoint_file(str(path)) == str(path)


def test_a_legacy_format_file_passes(tmp_path):
    path = tmp_path / 'legacy.pth'
    torch.save(
        dict(w=torch.ones(3)), path, _use_new_zipfile_serialization=False)
    assert not zipfile.is_zipfile(path)
    assert checkpoint_problem(str(path)) is None


def test_truncated_empty_and_foreign_files_are_named(checkpoint, tmp_path):
    _, path = checkpoint
    truncated = truncated_copy(path, tmp_path)
    with pytest.raises(CorruptCheckpointError) as info:
        check_checkpoint_file(str(truncated))
    message = str(info.value)
    assert '\n' not in message
    assert repr(str(truncated)) in message and 'is truncated' in message
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    assert 'empty (0 bytes)' in checkpoint_problem(str(empty))
    text = tmp_path / 'notes.pth'
    text.write_text('not a checkpoint')
    assert 'neither a zip archive nor a pickle' in checkpoint_problem(
        str(text))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        check_checkpoint_file(str(tmp_path / 'missing.pth'))


def test_a_flipped_byte_fails_the_crc(checkpoint, tmp_path):
    _, path = checkpoint
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        member = next(i for i in archive.infolist()
                      if i.filename.endswith('/data/0'))
    # The member's bytes follow its 30-byte local header, name and extra field.
    with open(path, 'rb') as f:
        f.seek(member.header_offset + 26)
        name_len, extra_len = (
            int.from_bytes(f.read(2), 'little') for _ in range(2))
    start = member.header_offset + 30 + name_len + extra_len
    data[start + 5] ^= 0xFF
    corrupt = tmp_path / 'corrupt.pth'
    corrupt.write_bytes(bytes(data))
    problem = checkpoint_problem(str(corrupt))
    assert problem.startswith('is corrupt') and 'CRC-32' in problem
    assert member.filename in problem


def test_mmengine_loading_names_the_truncated_file(checkpoint, tmp_path):
    model, path = checkpoint
    install_checkpoint_check()  # rla_mm's import did it already
    assert install_checkpoint_check() is False
    assert CheckpointLoader._schemes[''].rla_mm_checked
    # A whole file loads as before.
    target = nn.Conv2d(3, 8, 3)
    load_checkpoint(target, str(path), map_location='cpu')
    assert torch.equal(target.weight, model.weight)
    truncated = truncated_copy(path, tmp_path)
    with pytest.raises(CorruptCheckpointError) as info:
        load_checkpoint(target, str(truncated), map_location='cpu')
    message = str(info.value)
    assert repr(str(truncated)) in message and 'truncated' in message
    assert '(torch: PytorchStreamReader' in message and '\n' not in message
    # Its traceback does not chain torch's error.
    assert info.value.__suppress_context__


def test_a_truncated_legacy_file_is_named(tmp_path):
    path = tmp_path / 'legacy.pth'
    torch.save(
        dict(state_dict=dict(w=torch.ones(1000))),
        path,
        _use_new_zipfile_serialization=False)
    cut = tmp_path / 'legacy_cut.pth'
    cut.write_bytes(path.read_bytes()[:200])
    with pytest.raises(
            CorruptCheckpointError,
            match='legacy_cut.pth.* is '
            'truncated or corrupt'):
        CheckpointLoader.load_checkpoint(str(cut), map_location='cpu')


def test_a_refused_type_is_not_called_corrupt(tmp_path):
    path = tmp_path / 'object.pth'

    torch.save(dict(state_dict={}, extra=pickle.PickleError('x')), path)
    assert checkpoint_problem(str(path)) is None  # the file is whole
    if tuple(int(v) for v in torch.__version__.split('.')[:2]) < (2, 6):
        # torch.load reads any pickle before 2.6 (weights_only off): it loads
        loaded = CheckpointLoader.load_checkpoint(
            str(path), map_location='cpu')
        assert isinstance(loaded['extra'], pickle.PickleError)
        return
    with pytest.raises(Exception) as info:
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert not isinstance(info.value, CorruptCheckpointError)
    assert 'Weights only load failed' in str(info.value)
