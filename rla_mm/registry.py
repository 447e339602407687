"""How rla_mm's models and datasets reach the MMDetection and MMPretrain
registries.

One strategy for both: a class goes into MMEngine's root registry (``MODELS``
or ``DATASETS``) and into rla_mm's child of it (scope ``rla_mm``). The
registries of ``mmdet`` and ``mmpretrain`` are children of the same roots, and
a lookup that misses in a child continues in its parents, so
``type='RLAResNet'`` or ``type='CIFAR10Holdout'`` builds under either default
scope without rla_mm importing mmdet or mmpretrain
(which keeps ``import rla_mm`` fast); ``type='rla_mm.RLAResNet'`` works too.
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='rla_mm')
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='rla_mm')


def _register_in(registry: Registry):
    """Class decorator: register in ``registry`` and in its root parent."""

    def _register(cls):
        registry.register_module(module=cls)
        registry.parent.register_module(module=cls)
        return cls

    return _register


def register_model():
    """Class decorator: register a model in the rla_mm scope and in MMEngine's
    root."""
    return _register_in(MODELS)


def register_dataset():
    """Class decorator: register a dataset in the rla_mm scope and in
    MMEngine's root."""
    return _register_in(DATASETS)
