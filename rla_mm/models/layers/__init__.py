from .attention import ECALayer, SELayer
from .rla_stage import (RLAStage, check_rla_source, concat_hidden,
                        conv_cat_hidden, init_hidden, match_hidden)

__all__ = [
    'ECALayer', 'SELayer', 'RLAStage', 'check_rla_source', 'concat_hidden',
    'conv_cat_hidden', 'init_hidden', 'match_hidden'
]
