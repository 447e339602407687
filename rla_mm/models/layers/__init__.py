from .attention import ECALayer, SELayer
from .rla_stage import RLAStage, init_hidden, match_hidden

__all__ = ['ECALayer', 'SELayer', 'RLAStage', 'init_hidden', 'match_hidden']
