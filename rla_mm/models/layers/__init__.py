from .attention import ECALayer, SELayer
from .rla_stage import (RLAStage, block_input, check_rla_source,
                        conv_block_input, init_hidden, match_hidden)

__all__ = [
    'ECALayer', 'SELayer', 'RLAStage', 'block_input', 'check_rla_source',
    'conv_block_input', 'init_hidden', 'match_hidden'
]
