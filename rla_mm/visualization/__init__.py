"""Tools to look inside RLA networks (see ``docs/visualize.md``)."""
from .hidden_state import (HiddenRecord, UpdateRecord, knock_out,
                           record_hidden, rla_stages)

__all__ = [
    'HiddenRecord', 'UpdateRecord', 'knock_out', 'record_hidden', 'rla_stages'
]
