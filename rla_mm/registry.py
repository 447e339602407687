"""How rla_mm's models reach the MMDetection and MMPretrain registries.

Both ``mmdet.registry.MODELS`` and ``mmpretrain.registry.MODELS`` are children of
MMEngine's root ``MODELS``, and a lookup that misses in a child continues in its
parents. Registering in the root therefore makes ``type='RLAResNet'`` build under
either default scope, without importing mmdet or mmpretrain (which keeps
``import rla_mm`` fast). The ``rla_mm`` scope (``type='rla_mm.RLAResNet'``) works too.
"""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='rla_mm')


def register_model():
    """Class decorator: register a model in the rla_mm scope and in MMEngine's root."""

    def _register(cls):
        MODELS.register_module(module=cls)
        MMENGINE_MODELS.register_module(module=cls)
        return cls

    return _register
