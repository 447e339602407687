from .attention import ECALayer, SELayer
from .rla_cells import ConvGRUCell, ConvLSTMCell, build_rla_cell
from .rla_stage import (RLA_ACTS, RLA_ADDS, RLA_CELLS, RLA_SOURCES, RLAStage,
                        block_input, check_rla_source, check_rla_variant,
                        conv_block_input, hidden_of, init_hidden, init_state,
                        match_hidden, match_state)

__all__ = [
    'ECALayer', 'SELayer', 'ConvGRUCell', 'ConvLSTMCell', 'build_rla_cell',
    'RLA_ADDS', 'RLA_ACTS', 'RLA_CELLS', 'RLA_SOURCES', 'RLAStage',
    'block_input', 'check_rla_source', 'check_rla_variant', 'conv_block_input',
    'hidden_of', 'init_hidden', 'init_state', 'match_hidden', 'match_state'
]
