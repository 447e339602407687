"""The CIFAR 45k/5k split datasets, on a small fake copy of the CIFAR files."""
import os
import pickle

import numpy as np
import pytest

from rla_mm.datasets import CIFAR10Holdout, CIFAR100Holdout


def write_fake_cifar(root, folder, label_key, per_batch=6):
    """CIFAR's pickled batches with ``per_batch`` images each; pixel
    = index."""
    os.makedirs(os.path.join(root, folder))
    names = [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']
    if folder.startswith('cifar-100'):
        names = ['train', 'test']
        per_batch *= 5
    index = 0
    for name in names:
        n = per_batch
        data = np.stack(
            [np.full(3072, (index + i) % 256, np.uint8) for i in range(n)])
        labels = [(index + i) % 10 for i in range(n)]
        with open(os.path.join(root, folder, name), 'wb') as f:
            pickle.dump({'data': data, label_key: labels}, f)
        index += n


@pytest.fixture
def fake_cifar(tmp_path, monkeypatch):
    # The fake files cannot match CIFAR's md5 sums.
    for cls in (CIFAR10Holdout, CIFAR100Holdout):
        monkeypatch.setattr(cls, '_check_integrity', lambda self: True)
    write_fake_cifar(str(tmp_path / 'c10'), 'cifar-10-batches-py', 'labels')
    write_fake_cifar(str(tmp_path / 'c100'), 'cifar-100-python', 'fine_labels')
    return tmp_path


def first_pixels(dataset):
    return [
        int(dataset.get_data_info(i)['img'][0, 0, 0])
        for i in range(len(dataset))
    ]


def test_train_and_val_parts_split_the_training_set(fake_cifar):
    root = str(fake_cifar / 'c10')
    train = CIFAR10Holdout(
        data_root=root, part='train', num_holdout=5, download=False)
    val = CIFAR10Holdout(
        data_root=root, part='val', num_holdout=5, download=False)
    assert len(train) == 25 and len(val) == 5
    # Disjoint, together the whole training split, in order; test not used.
    assert first_pixels(train) + first_pixels(val) == list(range(30))
    assert val.get_data_info(0)['gt_label'] == 25 % 10
    assert train.metainfo['classes'][0] == 'airplane'


def test_cifar100_holdout(fake_cifar):
    val = CIFAR100Holdout(
        data_root=str(fake_cifar / 'c100'),
        part='val',
        num_holdout=4,
        download=False)
    assert first_pixels(val) == [26, 27, 28, 29]
    assert len(val.metainfo['classes']) == 100


@pytest.mark.parametrize('kwargs,match', [
    (dict(part='test'), 'part'),
    (dict(num_holdout=0), 'num_holdout'),
    (dict(num_holdout=True), 'num_holdout'),
    (dict(split='test'), 'split'),
])
def test_bad_arguments_are_refused(fake_cifar, kwargs, match):
    with pytest.raises(ValueError, match=match):
        CIFAR10Holdout(
            data_root=str(fake_cifar / 'c10'), download=False, **kwargs)


def test_holdout_larger_than_the_split_is_refused(fake_cifar):
    with pytest.raises(ValueError, match='num_holdout=30 leaves no training'):
        CIFAR10Holdout(
            data_root=str(fake_cifar / 'c10'), num_holdout=30, download=False)
