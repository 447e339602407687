"""The defaults of the library whose configs build an RLA twin.

A user swaps ``type='ResNet'`` for ``type='RLAResNet'`` in an MMDetection, an
MMPretrain, an MMSegmentation or an MMPose config and keeps everything else,
so wherever the config relies on a default, the RLA twin must take the default
of that library's ResNet. They differ:

==================  =================  ======  ======  ======  ======
argument            mmdet              mmpre   mmseg   mmpose  none
==================  =================  ======  ======  ======  ======
``out_indices``     (0, 1, 2, 3)       (3, )   all     (3, )   all
``norm_eval``       True               False   False   False   False
``stem_channels``   ``base_channels``  64      64      64      64
ResNeXt ``groups``  1                  32      1       32      32
ResNeXt width       4                  4       4       4       4
==================  =================  ======  ======  ======  ======

(mmdet: MMDetection 3.x; mmpre: MMPretrain 1.x; mmseg: MMSegmentation 1.x;
mmpose: MMPose 1.x, whose ResNet family takes MMPretrain's defaults; "all":
(0, 1, 2, 3); "none": no scope.)

Which library builds the model is read from MMEngine's default scope, as
MMEngine's own registry does: the innermost scope other than ``rla_mm`` (a
``type='rla_mm.RLAResNet'`` lookup switches to the ``rla_mm`` scope while it
builds, and is still built for the config's library). Without a scope (a model
built in Python), the last column applies.
"""
from typing import Optional

from mmengine.registry import DefaultScope

#: The defaults that differ between the libraries, per building scope.
LIBRARY_DEFAULTS = {
    'mmdet':
    dict(
        out_indices=(0, 1, 2, 3),
        norm_eval=True,
        stem_channels=None,
        groups=1,
        width_per_group=4),
    'mmpretrain':
    dict(
        out_indices=(3, ),
        norm_eval=False,
        stem_channels=64,
        groups=32,
        width_per_group=4),
    'mmseg':
    dict(
        out_indices=(0, 1, 2, 3),
        norm_eval=False,
        stem_channels=64,
        groups=1,
        width_per_group=4),
    'mmpose':
    dict(
        out_indices=(3, ),
        norm_eval=False,
        stem_channels=64,
        groups=32,
        width_per_group=4),
    None:
    dict(
        out_indices=(0, 1, 2, 3),
        norm_eval=False,
        stem_channels=64,
        groups=32,
        width_per_group=4),
}


def building_library() -> Optional[str]:
    """'mmdet', 'mmpretrain', 'mmseg', 'mmpose' or None: the library whose
    default scope is building a model now (the innermost scope that is not
    ``rla_mm``)."""
    # MMEngine keeps the scopes in creation order; the current one is the last
    # (ManagerMixin.get_current_instance), and overwrite_default_scope appends.
    for scope in reversed(list(DefaultScope._instance_dict.values())):
        if scope.scope_name != 'rla_mm':
            return scope.scope_name if scope.scope_name in LIBRARY_DEFAULTS \
                else None
    return None


def library_default(name: str, value):
    """``value`` if it was given (not None), else the building library's
    default for ``name``."""
    if value is not None:
        return value
    return LIBRARY_DEFAULTS[building_library()][name]
