from .attention import ECALayer, SELayer
from .rla_stage import (RLAStage, concat_hidden, conv_cat_hidden, init_hidden,
                        match_hidden)

__all__ = [
    'ECALayer', 'SELayer', 'RLAStage', 'concat_hidden', 'conv_cat_hidden',
    'init_hidden', 'match_hidden'
]
