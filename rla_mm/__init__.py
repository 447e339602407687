"""rla_mm: Recurrent Layer Aggregation backbones for MMDetection and MMPretrain."""
from .checkpoint import install_safe_globals
from .model_zoo import register_model_zoo
from .models import RLAMobileNetV2, RLAResNet, RLAResNetV1d
from .version import __version__

install_safe_globals()

__all__ = [
    'RLAResNet', 'RLAResNetV1d', 'RLAMobileNetV2', 'register_model_zoo',
    '__version__'
]
