"""rla_mm's classifiers in MMPretrain's model hub.

After ``rla_mm.register_model_zoo()``, MMPretrain's own API knows every model
of ``configs/metafile.yml`` by name::

    import rla_mm
    from mmpretrain import get_model, inference_model, list_models

    rla_mm.register_model_zoo()
    list_models('rla_resnet50')   # ['rla_resnet50_4xb64_in1k', ...]
    model = get_model('rla_resnet50_4xb64_in1k',
                      pretrained='checkpoints/rla_resnet50_in1k.pth')

No weights are hosted, so ``pretrained=True`` finds none: pass the path of a
checkpoint converted with ``tools/model_converters/rlanet_to_rla_mm.py`` or
trained with ``tools/train.py``. Registration imports MMPretrain, which is why
``import rla_mm`` does not do it by itself
(an MMDetection run does not need it).
"""
from typing import List

from .configs import data_root, metafile_path


def register_model_zoo() -> List[str]:
    """Add rla_mm's classification models (``configs/metafile.yml``) to
    MMPretrain's ``ModelHub``.

    Calling it again does nothing. A name that another package has already
    registered raises MMPretrain's ``ValueError``, naming both metafiles.

    Returns:
        list[str]: The registered model names, as ``list_models`` prints them.
    """
    from mmpretrain.apis.model import ModelHub
    from modelindex.load_model_index import load

    # The classification metafile only: model-index.yml also imports the
    # detection metafile (for `mim search`), whose models MMPretrain cannot
    # build.
    metafile = metafile_path()
    names = [model.name.lower() for model in load(metafile).models]
    if not all(ModelHub.has(name) for name in names):
        # Config paths in the metafile are relative to the index's folder.
        ModelHub.register_model_index(metafile, config_prefix=data_root())
    return names
