"""CIFAR training set split into 45k training and 5k validation images.

The paper (Sec. 4.1, B.1) trains on 45,000 CIFAR training images and picks the
model on the other 5,000; the test set is only used for the final number.
"""
from mmpretrain.datasets import CIFAR10, CIFAR100

from ..checks import check_choice, check_int
from ..registry import register_dataset

HOLDOUT_PARTS = ('train', 'val')


class _HoldoutMixin:
    """Keep the first or the last ``num_holdout`` images of the training split.

    Args:
        part (str): 'train' keeps all but the last ``num_holdout`` training
            images, 'val' keeps those last images. Default: 'train'.
        num_holdout (int): Size of the validation part. Default: 5000.
        **kwargs: Arguments of the CIFAR dataset (not ``split``: both parts
            come from the training split).
    """

    def __init__(self, part: str = 'train', num_holdout: int = 5000, **kwargs):
        check_choice('part', part, HOLDOUT_PARTS)
        check_int('num_holdout', num_holdout, 1)
        if 'split' in kwargs:
            raise ValueError(
                f'{type(self).__name__} always reads the training split; '
                f"got split={kwargs['split']!r} (use part='train' or 'val', "
                f'or the plain CIFAR dataset for the test split)')
        self.part = part
        self.num_holdout = num_holdout
        super().__init__(split='train', **kwargs)

    def load_data_list(self):
        data_list = super().load_data_list()
        if self.num_holdout >= len(data_list):
            raise ValueError(
                f'num_holdout={self.num_holdout} leaves no training images: '
                f'the training split has {len(data_list)}')
        if self.part == 'train':
            return data_list[:-self.num_holdout]
        return data_list[-self.num_holdout:]


@register_dataset()
class CIFAR10Holdout(_HoldoutMixin, CIFAR10):
    """CIFAR-10 training split divided 45k/5k (see :class:`_HoldoutMixin`)."""


@register_dataset()
class CIFAR100Holdout(_HoldoutMixin, CIFAR100):
    """CIFAR-100 training split divided 45k/5k (see :class:`_HoldoutMixin`)."""
