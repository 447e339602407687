"""rla_mm: Recurrent Layer Aggregation backbones for MMDetection and MMPretrain."""
from .model_zoo import register_model_zoo
from .models import RLAMobileNetV2, RLAResNet, RLAResNetV1d
from .safe_loading import install_checkpoint_check, install_safe_globals
from .version import __version__

install_safe_globals()
install_checkpoint_check()

__all__ = [
    'RLAResNet', 'RLAResNetV1d', 'RLAMobileNetV2', 'register_model_zoo',
    '__version__'
]
