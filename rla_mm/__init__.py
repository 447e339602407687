"""rla_mm: Recurrent Layer Aggregation backbones for MMDetection and
MMPretrain."""
from .model_zoo import register_model_zoo
from .models import (RLABackbone, RLAMobileNetV2, RLAPreActResNet, RLAResNet,
                     RLAResNet_CIFAR, RLAResNetV1c, RLAResNetV1d, RLAResNeXt,
                     RLASEResNet, RLASEResNeXt, RLAStage, RLAXception,
                     classifier_form)
from .safe_loading import install_checkpoint_check, install_safe_globals
from .version import __version__

install_safe_globals()
install_checkpoint_check()

# The registered backbones, what a new one builds on, and the package's API.
# The datasets (rla_mm.datasets) import MMPretrain and are imported on their
# own.
__all__ = [
    'RLAResNet', 'RLAResNetV1c', 'RLAResNetV1d', 'RLAResNet_CIFAR',
    'RLAResNeXt', 'RLASEResNet', 'RLASEResNeXt', 'RLAMobileNetV2',
    'RLAPreActResNet', 'RLAXception', 'RLABackbone', 'RLAStage',
    'classifier_form', 'register_model_zoo', '__version__'
]
