from .base import RLABackbone
from .rla_mobilenet_v2 import RLAInvertedResidual, RLAMobileNetV2
from .rla_preact_resnet import (RLAPreActBasicBlock, RLAPreActBottleneck,
                                RLAPreActResNet)
from .rla_resnet import (CLASSIFIER_FORM, RLABasicBlock, RLABottleneck,
                         RLAResNet, RLAResNet_CIFAR, RLAResNetV1c,
                         RLAResNetV1d, RLAResNeXt, RLASEResNet, RLASEResNeXt,
                         classifier_form)
from .rla_xception import RLAXception, RLAXceptionBlock

__all__ = [
    'RLABackbone', 'CLASSIFIER_FORM', 'classifier_form', 'RLABasicBlock',
    'RLABottleneck', 'RLAResNet', 'RLAResNetV1c', 'RLAResNetV1d',
    'RLAResNet_CIFAR', 'RLAResNeXt', 'RLASEResNet', 'RLASEResNeXt',
    'RLAInvertedResidual', 'RLAMobileNetV2', 'RLAPreActBasicBlock',
    'RLAPreActBottleneck', 'RLAPreActResNet', 'RLAXceptionBlock', 'RLAXception'
]
