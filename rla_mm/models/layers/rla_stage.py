"""The RLA stage: a ResNet layer with the recurrent aggregation beside it.

Paper Eq. 11, for block t of a stage, with main features x and hidden state h::

    y_t = F_t([x_{t-1}, h_{t-1}]);  x_t = act(y_t + shortcut(x_{t-1}))
    h_t = R(tanh(BN_t(h_{t-1} + O(y_t))))

O (``conv_out``, 1x1) and R (``recurrent_conv``, 3x3) are shared by the blocks
of a stage; BN_t (``norms``) is one per block.
"""
from dataclasses import dataclass, fields
from typing import Dict, Iterator, List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from ...checks import check_bool, check_choice, check_int
from .rla_cells import build_rla_cell

RLA_SOURCES = ('branch', 'output', 'shortcut')
#: Hidden state of the stages: h, or (h, c) for the ConvLSTM cell.
State = Union[Tensor, Tuple[Tensor, Tensor]]


def check_rla_source(value: str) -> str:
    """Return ``value`` if it names a tensor the RLA update can read."""
    return check_choice('rla_source', value, RLA_SOURCES)


@dataclass(frozen=True)
class RLAVariant:
    """Which RLA update a stage runs; the defaults are the paper's (Eq. 11),
    the other values its ablations (Tables 6, 11).

    Args:
        rla_add (str): 'before': O's term joins h before R (Eq. 11);
            'after': ``h_t = R(tanh(BN_t(h))) + O(.)``.
        rla_act (str): 'pre': ``R(tanh(BN_t(.)))``; 'post':
            ``tanh(BN_t(R(.)))`` (Table 6 (e)).
        rla_cell (str): R is a 3x3 conv ('conv'), or a ConvLSTM / ConvGRU
            cell reading ``tanh(BN_t(O(.)))`` ('lstm', 'gru'; Table 6 (d)).
        rla_shared (bool): One O and R per stage, or per block (Table 6 (b)).
        rla_exchange (bool): The blocks read h, or not (Table 6 (c)).
    """
    rla_add: str = 'before'
    rla_act: str = 'pre'
    rla_cell: str = 'conv'
    rla_shared: bool = True
    rla_exchange: bool = True

    def __post_init__(self):
        check_choice('rla_add', self.rla_add, ('before', 'after'))
        check_choice('rla_act', self.rla_act, ('pre', 'post'))
        check_choice('rla_cell', self.rla_cell, ('conv', 'lstm', 'gru'))
        check_bool('rla_shared', self.rla_shared)
        check_bool('rla_exchange', self.rla_exchange)
        if self.rla_cell != 'conv' and (self.rla_add,
                                        self.rla_act) != ('before', 'pre'):
            raise ValueError(
                f'rla_cell={self.rla_cell!r} reads tanh(BN(O(y))) as its '
                f"input, so it takes rla_add='before' and rla_act='pre' only, "
                f'got rla_add={self.rla_add!r}, rla_act={self.rla_act!r}')

    def changed(self) -> dict:
        """The options whose value is not the paper's."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self) if getattr(self, f.name) != f.default
        }


#: The option names of :class:`RLAVariant`.
RLA_VARIANT_OPTIONS = tuple(f.name for f in fields(RLAVariant))


class HiddenState:
    """The RLA state (``value``: h, or the LSTM's (h, c)) that a backbone
    hands from stage to stage; a stage reads it and leaves its own there."""

    def __init__(self, value: Optional[State] = None):
        self.value = value


def init_hidden(x: Tensor, channels: int) -> Tensor:
    """The zero hidden state h_0 (``channels`` channels) for features ``x``,
    with their device, dtype, spatial size and memory format."""
    n, _, height, width = x.shape
    h = x.new_zeros((n, channels, height, width))
    if x.is_contiguous(memory_format=torch.channels_last) \
            and not x.is_contiguous():
        h = h.contiguous(memory_format=torch.channels_last)
    return h


def init_state(x: Tensor, channels: int, cell: str = 'conv') -> State:
    """The zero state: h_0, or (h_0, c_0) for the LSTM cell."""
    h = init_hidden(x, channels)
    return (h, torch.zeros_like(h)) if cell == 'lstm' else h


def hidden_of(state: Optional[State]) -> Optional[Tensor]:
    """The hidden state h of a state (h, or h of the LSTM's (h, c))."""
    return state[0] if isinstance(state, tuple) else state


def match_hidden(h: Tensor, x: Tensor) -> Tensor:
    """Average-pool ``h`` 2x2 until it has the spatial size of ``x``; with
    ``ceil_mode``, as a strided 3x3 conv rounds, so odd sizes work (the
    authors' floor-mode pool fails on them; on even sizes the two agree)."""
    while h.shape[-2:] != x.shape[-2:]:
        if h.shape[-2] < x.shape[-2] or h.shape[-1] < x.shape[-1] \
                or h.shape[-2:] == (1, 1):
            raise ValueError(
                f'hidden state of size {tuple(h.shape[-2:])} cannot be pooled '
                f'to the feature size {tuple(x.shape[-2:])}')
        h = F.avg_pool2d(
            h,
            kernel_size=2,
            stride=2,
            ceil_mode=True,
            count_include_pad=False)
    return h


def match_state(state: State, x: Tensor) -> State:
    """:func:`match_hidden` on h, or on both parts of the LSTM's (h, c)."""
    if isinstance(state, tuple):
        return tuple(match_hidden(t, x) for t in state)
    return match_hidden(state, x)


def block_input(x: Tensor, h: Optional[Tensor], channels: int = 0) -> Tensor:
    """A block's branch input ``[x, h]`` (Eq. 11); ``h=None`` stands for
    zeros of the ``channels`` the block reads (none in a plain block)."""
    if h is None:
        if not channels:
            return x
        h = init_hidden(x, channels)
    return torch.cat([x, h], dim=1)


def conv_block_input(conv: nn.Module, x: Tensor,
                     h: Optional[Tensor]) -> Tensor:
    """``conv([x, h])`` without building the concatenation: for a plain
    ``nn.Conv2d`` it is ``conv(x, W[:, :C]) + conv(h, W[:, C:])``, the one
    weight of the authors' shape sliced; other convs get the concatenation.
    ``h=None`` is a zero hidden state."""
    hidden = conv.in_channels - x.shape[1]
    if type(conv) is not nn.Conv2d or conv.groups != 1 \
            or conv.padding_mode != 'zeros':
        return conv(block_input(x, h, hidden))
    if h is None and not hidden:
        return conv(x)
    weight_x, weight_h = conv.weight.split([x.shape[1], hidden], dim=1)
    args = (conv.stride, conv.padding, conv.dilation)
    out = F.conv2d(x, weight_x, conv.bias, *args)
    if h is None:
        return out
    # in place: a convolution's backward does not read its output
    return out.add_(F.conv2d(h, weight_h, None, *args))


def upgrade_stage_keys(state_dict: dict, prefix: str) -> int:
    """Rename rla_mm 0.1's block keys ``<prefix>blocks.i.*`` to
    ``<prefix>i.*`` in ``state_dict``; return how many were renamed."""
    old = prefix + 'blocks.'
    keys = [k for k in state_dict if k.startswith(old)]
    for key in keys:
        state_dict[prefix + key[len(old):]] = state_dict.pop(key)
    return len(keys)


class RLAStage(BaseModule):
    """The blocks of one stage, indexed as a ResNet layer (``stage[i]``,
    ``len``, iteration, keys ``i.*``), with the RLA parts beside them.

    A block is called as ``block(x, h, taps=taps)`` and returns its output
    map (what its hooks see); it puts its branch output y_t and shortcut into
    ``taps`` (``'branch'``, ``'shortcut'``: its class's ``rla_taps``) for the
    update. A block whose ``with_cp`` is True runs with its update under one
    activation checkpoint.

    Args:
        blocks (list[nn.Module]): The blocks, in order.
        out_channels (int): Channels of the blocks' outputs.
        rla_channel (int): Hidden channels k; 0 builds a plain stage.
        recurrent_conv (nn.Module, optional): An R to share with other
            stages (RLA-MobileNetV2); None builds the stage's own.
        conv_cfg (dict, optional): Config of the RLA convs.
        norm_cfg (dict): Config of the per-block RLA norms. Default: BN.
        rla_source (str): What feeds O: y_t ('branch', Eq. 11), x_t
            ('output', the authors' ResNet code) or the shortcut.
            Default: 'branch'.
        variant (RLAVariant): The update; default: the paper's.
        update_last (bool): Update h after the last block (False: nothing
            reads it, as in detection). Default: True.
        init_cfg (dict | list[dict], optional): Initialization config.
    """

    def __init__(self,
                 blocks: List[nn.Module],
                 out_channels: int,
                 rla_channel: int,
                 recurrent_conv: Optional[nn.Module] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 rla_source: str = 'branch',
                 variant: RLAVariant = RLAVariant(),
                 update_last: bool = True,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if len(blocks) == 0:
            raise ValueError('an RLA stage needs at least one block')
        self.rla_source = check_rla_source(rla_source)
        self.rla_channel = check_int('rla_channel', rla_channel, 0)
        self.variant = variant
        shares = recurrent_conv is not None
        if shares and (not variant.rla_shared or variant.rla_cell != 'conv'):
            raise ValueError(
                'a recurrent_conv shared between stages needs rla_shared=True '
                f"and rla_cell='conv', got rla_shared={variant.rla_shared!r}, "
                f'rla_cell={variant.rla_cell!r}')
        if rla_source != 'output':
            for block in blocks:
                if rla_source not in getattr(block, 'rla_taps', ()):
                    raise ValueError(
                        f'rla_source={rla_source!r} needs blocks that tap '
                        f'that tensor; {type(block).__name__} taps '
                        f'{getattr(block, "rla_taps", ())!r}')
        for index, block in enumerate(blocks):
            self.add_module(str(index), block)
        self.num_blocks = len(blocks)
        self.update_last = update_last
        num_updates = 0 if rla_channel == 0 else \
            len(blocks) - int(not update_last)
        self.norms = nn.ModuleList(
            build_norm_layer(norm_cfg, rla_channel)[1]
            for _ in range(num_updates))
        self.conv_out = self.recurrent_conv = None
        if num_updates > 0:

            def conv_out():
                return build_conv_layer(
                    conv_cfg,
                    out_channels,
                    rla_channel,
                    kernel_size=1,
                    bias=False)

            def cell():
                return build_rla_cell(variant.rla_cell, rla_channel, conv_cfg)

            if variant.rla_shared:
                self.conv_out = conv_out()
                self.recurrent_conv = recurrent_conv if shares else cell()
            else:
                self.conv_out = nn.ModuleList(conv_out()
                                              for _ in range(num_updates))
                self.recurrent_conv = nn.ModuleList(
                    cell() for _ in range(num_updates))
        self._register_load_state_dict_pre_hook(self._upgrade_keys)

    # -- a sequence of blocks, as a ResNet layer
    def __len__(self) -> int:
        return self.num_blocks

    def __iter__(self) -> Iterator[nn.Module]:
        return (self._modules[str(i)] for i in range(self.num_blocks))

    def __getitem__(self, index: Union[int, slice]):
        """Block ``index``; a slice gives an ``nn.ModuleList`` of blocks
        (they run as a stage only inside it)."""
        if isinstance(index, slice):
            return nn.ModuleList(list(self)[index])
        if isinstance(index, bool) or not isinstance(index, int) \
                or not -self.num_blocks <= index < self.num_blocks:
            raise IndexError(f'block index {index!r} out of range for a stage '
                             f'of {self.num_blocks} blocks')
        return self._modules[str(index % self.num_blocks)]

    # -- the RLA update
    def update(self, index: int, s: Tensor, state: State) -> State:
        """The RLA update after block ``index``, reading ``s`` (Eq. 11)."""
        v = self.variant
        conv_out, recurrent = self.conv_out, self.recurrent_conv
        if not v.rla_shared:
            conv_out, recurrent = conv_out[index], recurrent[index]
        norm = self.norms[index]
        if v.rla_cell != 'conv':  # a gated cell carries its own state
            return recurrent(torch.tanh(norm(conv_out(s))), state)
        h = state
        if v.rla_add == 'before':
            # in place on the fresh conv output (its backward does not read it)
            h = conv_out(s).add_(h)
        if v.rla_act == 'pre':
            h = recurrent(torch.tanh(norm(h)))
        else:
            h = torch.tanh(norm(recurrent(h)))
        if v.rla_add == 'after':
            h = h + conv_out(s)
        return h

    def _run_block(self, index: int, x: Tensor, state: Optional[State],
                   updates: int) -> Tuple[Tensor, Optional[State]]:
        """Block ``index`` (through ``__call__``: its hooks fire), then the
        RLA update after it, if it is among the first ``updates``."""
        h = hidden_of(state) if self.variant.rla_exchange else None
        taps: Dict[str, Tensor] = {}
        x = self._modules[str(index)](x, h, taps=taps)
        if index >= updates:
            return x, None
        s = x if self.rla_source == 'output' else taps[self.rla_source]
        return x, self.update(index, s, match_state(state, x))

    def forward(self,
                x: Tensor,
                hidden: Optional[HiddenState] = None) -> Tensor:
        """Run the blocks and RLA updates from ``hidden``'s state, leave the
        last state there, return the output map. Without ``hidden``, as
        ``layer(x)``, the stage starts from zeros at x's size and skips the
        update after its last block, which nothing would read."""
        if hidden is not None and not isinstance(hidden, HiddenState):
            raise TypeError(
                f'an RLA stage carries its state in a HiddenState, '
                f'got {type(hidden).__name__}')
        state = None if hidden is None else hidden.value
        updates = len(self.norms) if hidden is not None else min(
            len(self.norms), self.num_blocks - 1)
        if state is None and updates > 0:
            state = init_state(x, self.rla_channel, self.variant.rla_cell)
        for index in range(self.num_blocks):  # not iter(self): torch 2.1's
            block = self._modules[str(index)]  # dynamo cannot trace it
            if getattr(block, 'with_cp', False) and x.requires_grad:
                x, state = cp.checkpoint(
                    self._run_block,
                    index,
                    x,
                    state,
                    updates,
                    use_reentrant=False)
            else:
                x, state = self._run_block(index, x, state, updates)
        if hidden is not None:
            hidden.value = state
        return x

    def _upgrade_keys(self, state_dict, prefix, *args) -> None:
        upgrade_stage_keys(state_dict, prefix)
