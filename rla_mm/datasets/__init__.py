"""Datasets for the paper's recipes; imports MMPretrain (configs list it in
``custom_imports``), unlike the backbones."""
from .cifar_holdout import CIFAR10Holdout, CIFAR100Holdout

__all__ = ['CIFAR10Holdout', 'CIFAR100Holdout']
