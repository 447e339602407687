from .attention import ECALayer, SELayer
from .rla_cells import ConvGRUCell, ConvLSTMCell, build_rla_cell
from .rla_stage import (RLA_SOURCES, RLA_VARIANT_OPTIONS, HiddenState,
                        RLAStage, RLAVariant, block_input, check_rla_source,
                        conv_block_input, hidden_of, init_hidden, init_state,
                        match_hidden, match_state, upgrade_stage_keys)

__all__ = [
    'ECALayer', 'SELayer', 'ConvGRUCell', 'ConvLSTMCell', 'build_rla_cell',
    'RLA_SOURCES', 'RLA_VARIANT_OPTIONS', 'HiddenState', 'RLAStage',
    'RLAVariant', 'block_input', 'check_rla_source', 'conv_block_input',
    'hidden_of', 'init_hidden', 'init_state', 'match_hidden', 'match_state',
    'upgrade_stage_keys'
]
