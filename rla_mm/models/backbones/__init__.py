from .rla_mobilenet_v2 import RLAInvertedResidual, RLAMobileNetV2
from .rla_resnet import RLABasicBlock, RLABottleneck, RLAResNet, RLAResNetV1d

__all__ = [
    'RLABasicBlock', 'RLABottleneck', 'RLAResNet', 'RLAResNetV1d',
    'RLAInvertedResidual', 'RLAMobileNetV2'
]
