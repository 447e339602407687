"""The RLA stage: blocks of one resolution plus the shared recurrent
aggregation.

Every RLA network in rla_mm (ImageNet ResNets, MobileNetV2, the CIFAR models)
is a sequence of :class:`RLAStage` modules. A block only has to accept
``(x, h)`` and return ``(x_new, y)``, where ``y`` is its residual branch
output; the stage applies the RLA update of the paper (Eq. 11)::

    h_t = R(tanh(BN_t(h_{t-1} + O(y_t))))

with ``O`` a 1x1 conv and ``R`` a 3x3 conv shared by all blocks of the stage
and one norm ``BN_t`` per block.

Which tensor feeds ``O`` is a choice (``rla_source``). Eq. 11 reads the branch
output ``y_t`` ('branch'). The authors' published ResNet code feeds the block
output ``x_t`` instead ('output'): its bottleneck keeps ``y = out`` and then
adds the shortcut and applies ReLU in place, so ``y`` aliases ``x_t``. Their
published ResNet weights were trained that way; their MobileNetV2 code uses the
branch output.

The paper's ablations (Tables 6, 11, 13, 15) are options of the same stage:

* ``rla_source``: what feeds ``O``: the branch output y_t ('branch'), the block
  output x_t ('output') or the block's shortcut, i.e. its input after the
  projection ('shortcut');
* ``rla_add``: add ``O``'s term before the recurrent part (Eq. 11, 'before') or
  after it, ``h_t = R(tanh(BN_t(h_{t-1}))) + O(.)`` ('after');
* ``rla_act``: pre-activation ``R(tanh(BN_t(.)))`` (Eq. 11, 'pre') or
  post-activation ``tanh(BN_t(R(.)))`` ('post');
* ``rla_cell``: the recurrent part is one conv ('conv'), or a ConvLSTM
  / ConvGRU cell reading ``tanh(BN_t(O(.)))`` ('lstm', 'gru'; the LSTM carries
  its cell state c beside h, so the state is the pair ``(h, c)``);
* ``rla_shared``: one ``O`` and ``R`` per stage (True) or per block (False);
* ``rla_exchange``: whether the blocks read h (False: h is computed but never
  fed back into the main path; the blocks get ``h=None``).
"""
import inspect
from typing import List, Optional, Tuple, Union

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
RLA_ADDS = ('before', 'after')
RLA_ACTS = ('pre', 'post')
RLA_CELLS = ('conv', 'lstm', 'gru')
#: The paper's RLA module (Eq. 11); other values are its ablations.
RLA_VARIANT_DEFAULTS = dict(
    rla_add='before',
    rla_act='pre',
    rla_cell='conv',
    rla_shared=True,
    rla_exchange=True)
#: Hidden state of the stages: h, or (h, c) for the ConvLSTM cell.
State = Union[Tensor, Tuple[Tensor, Tensor]]


def check_rla_source(value: str) -> str:
    """Return ``value`` if it names a tensor the RLA update can read."""
    return check_choice('rla_source', value, RLA_SOURCES)


def init_hidden(x: Tensor, channels: int) -> Tensor:
    """Return the zero hidden state h_0 for features ``x``.

    The state follows ``x`` in device, dtype, spatial size and memory format.

    Args:
        x (Tensor): Features of shape (N, C, H, W).
        channels (int): Number of hidden channels k.
    """
    n, _, height, width = x.shape
    h = x.new_zeros((n, channels, height, width))
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) \
            and not x.is_contiguous():
        h = h.contiguous(memory_format=torch.channels_last)
    return h


def check_rla_variant(rla_add: str = 'before',
                      rla_act: str = 'pre',
                      rla_cell: str = 'conv',
                      rla_shared: bool = True,
                      rla_exchange: bool = True) -> None:
    """Check the variant options of the RLA update (see :class:`RLAStage`)."""
    check_choice('rla_add', rla_add, RLA_ADDS)
    check_choice('rla_act', rla_act, RLA_ACTS)
    check_choice('rla_cell', rla_cell, RLA_CELLS)
    check_bool('rla_shared', rla_shared)
    check_bool('rla_exchange', rla_exchange)
    if rla_cell != 'conv' and (rla_add, rla_act) != ('before', 'pre'):
        raise ValueError(
            f"rla_cell={rla_cell!r} reads tanh(BN(O(y))) as its input, so it "
            f"takes rla_add='before' and rla_act='pre' only, got "
            f'rla_add={rla_add!r}, rla_act={rla_act!r}')


def init_state(x: Tensor, channels: int, cell: str = 'conv') -> State:
    """The zero state of the stages: h_0, or (h_0, c_0) for the LSTM cell.

    Args:
        x (Tensor): Features (N, C, H, W) after the stem.
        channels (int): Hidden channels k.
        cell (str): The recurrent cell, one of ``RLA_CELLS``.
    """
    h = init_hidden(x, channels)
    return (h, torch.zeros_like(h)) if cell == 'lstm' else h


def hidden_of(state: Optional[State]) -> Optional[Tensor]:
    """The hidden state h of a stage state (h, or h of the LSTM's (h, c))."""
    return state[0] if isinstance(state, tuple) else state


def match_hidden(h: Tensor, x: Tensor) -> Tensor:
    """Average-pool the hidden state ``h`` until it has the spatial size of
    ``x``.

    A 2x2 stride-2 pool with ``ceil_mode`` halves a size the way a strided 3x3
    conv with padding 1 does, so odd feature sizes work
    (the reference crashes on them). On even sizes it equals the reference's
    floor-mode pool.

    Args:
        h (Tensor): Hidden state (N, k, H, W).
        x (Tensor): Features (N, C, H', W') with H' <= H and W' <= W.
    """
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


def block_input(x: Tensor, h: Optional[Tensor]) -> Tensor:
    """Return the input of a block's branch, ``cat([x, h], dim=1)`` (Eq. 11),
    or ``x`` alone in a plain network (h is None).

    Args:
        x (Tensor): Features (N, C, H, W).
        h (Tensor, optional): Hidden state (N, k, H, W).
    """
    return x if h is None else torch.cat([x, h], dim=1)


def conv_block_input(conv: nn.Module, x: Tensor,
                     h: Optional[Tensor]) -> Tensor:
    """Return ``conv(block_input(x, h))`` without building the concatenation.

    A convolution is linear in its input channels, so for a plain ``nn.Conv2d``
    (one group, zero padding) it equals
    ``conv(x, W[:, :C]) + conv(h, W[:, C:])`` with ``C`` the channels of ``x``:
    the one weight of the reference shape is sliced, so checkpoints keep their
    layout, and the copy of x into a concatenation
    (and the slicing of its gradient) disappears. Other conv types (weight
    standardisation, deformable, ...) get the concatenation.

    Args:
        conv (nn.Module): A conv with ``C + k`` input channels.
        x (Tensor): Features (N, C, H, W).
        h (Tensor, optional): Hidden state (N, k, H, W); None: ``conv(x)``.
    """
    if h is None:
        return conv(x)
    if type(conv) is not nn.Conv2d or conv.groups != 1 \
            or conv.padding_mode != 'zeros':
        return conv(torch.cat([x, h], dim=1))
    weight_x, weight_h = conv.weight.split([x.shape[1], h.shape[1]], dim=1)
    args = (conv.stride, conv.padding, conv.dilation)
    out = F.conv2d(x, weight_x, conv.bias, *args)
    # in place: a convolution's backward does not read its output
    return out.add_(F.conv2d(h, weight_h, None, *args))


class RLAStage(BaseModule):
    """Blocks of one stage and the stage's shared RLA parts.

    The defaults are the paper's RLA module (Eq. 11); the other option values
    are its ablations (see the module docstring and ``docs/architecture.md``).

    Args:
        blocks (list[nn.Module]): Blocks with ``forward(x, h) -> (x, y)``; with
            ``rla_source='shortcut'`` also ``forward(x, h, shortcut=True) ->
            (x, shortcut)``.
        out_channels (int): Channels of the blocks' output (and of ``y``).
        rla_channel (int): Hidden channels k. 0 builds a plain stage (no RLA
            parts; blocks get ``h=None``), the baseline of an RLA network.
        recurrent_conv (nn.Module, optional): The shared recurrent conv R. If
            None, the stage builds its own (see ``rla_cell``). Pass a module to
            share one R between several stages (RLA-MobileNetV2).
        conv_cfg (dict, optional): Config of the convs. Default: None (Conv2d).
        norm_cfg (dict): Config of the per-block RLA norms. Default: BN.
        rla_source (str): 'branch' feeds the branch output y_t to the RLA
            update (Eq. 11); 'output' feeds the block output x_t, as the
            authors' ResNet code does; 'shortcut' the block's shortcut (its
            input after the projection). Default: 'branch'.
        rla_add (str): 'before': ``O``'s term joins h before the recurrent part
            (Eq. 11); 'after': ``h_t = R(tanh(BN_t(h))) + O(.)``.
            Default: 'before'.
        rla_act (str): 'pre': ``R(tanh(BN_t(.)))`` (Eq. 11); 'post':
            ``tanh(BN_t(R(.)))``. Default: 'pre'.
        rla_cell (str): The recurrent part: 'conv' (a 3x3 conv), 'lstm' or
            'gru' (cells reading ``tanh(BN_t(O(.)))``). Default: 'conv'.
        rla_shared (bool): One ``conv_out`` and recurrent part for the stage
            (True) or one per block (False; then both are ``nn.ModuleList``s).
            Default: True.
        rla_exchange (bool): The blocks read h (True) or get ``h=None``.
            Default: True.
        update_last (bool): Update h after the last block. False skips that
            update (and its norm) when nothing reads the final hidden state, as
            in detection, so no parameter goes without a gradient under DDP;
            the stage then returns ``(x, None)``. Default: True.
        with_cp (bool): Run each block and its RLA update under activation
            checkpointing to save memory. Default: False.
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
                 rla_add: str = 'before',
                 rla_act: str = 'pre',
                 rla_cell: str = 'conv',
                 rla_shared: bool = True,
                 rla_exchange: bool = True,
                 update_last: bool = True,
                 with_cp: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if len(blocks) == 0:
            raise ValueError('an RLA stage needs at least one block')
        check_rla_source(rla_source)
        check_rla_variant(rla_add, rla_act, rla_cell, rla_shared, rla_exchange)
        check_int('rla_channel', rla_channel, 0)
        if recurrent_conv is not None and (not rla_shared
                                           or rla_cell != 'conv'):
            raise ValueError(
                'a recurrent_conv shared between stages needs rla_shared=True '
                f'and rla_cell=\'conv\', got rla_shared={rla_shared!r}, '
                f'rla_cell={rla_cell!r}')
        if rla_source == 'shortcut':
            for block in blocks:
                if 'shortcut' not in inspect.signature(
                        block.forward).parameters:
                    raise ValueError(
                        f"rla_source='shortcut' needs blocks whose forward "
                        f'takes shortcut=True; {type(block).__name__} does not'
                    )
        self.rla_source = rla_source
        self.rla_add, self.rla_act, self.rla_cell = rla_add, rla_act, rla_cell
        self.rla_shared, self.rla_exchange = rla_shared, rla_exchange
        self.blocks = nn.ModuleList(blocks)
        self.update_last = update_last
        if rla_channel == 0:
            num_updates = 0
        else:
            num_updates = len(blocks) if update_last else len(blocks) - 1
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
                return build_rla_cell(rla_cell, rla_channel, conv_cfg)

            if rla_shared:
                self.conv_out = conv_out()
                self.recurrent_conv = cell() if recurrent_conv is None \
                    else recurrent_conv
            else:
                self.conv_out = nn.ModuleList(conv_out()
                                              for _ in range(num_updates))
                self.recurrent_conv = nn.ModuleList(
                    cell() for _ in range(num_updates))
        self.with_cp = with_cp

    def _update(self, index: int, s: Tensor, state: State) -> State:
        """The RLA update after block ``index``, reading ``s``."""
        conv_out, recurrent, norm = self.conv_out, self.recurrent_conv, \
            self.norms[index]
        if not self.rla_shared:
            conv_out, recurrent = conv_out[index], recurrent[index]
        if self.rla_cell != 'conv':  # a gated cell carries its own state
            return recurrent(torch.tanh(norm(conv_out(s))), state)
        h = state
        if self.rla_add == 'before':
            # in place on the fresh conv output (its backward does not read it)
            h = conv_out(s).add_(h)
        if self.rla_act == 'pre':
            h = recurrent(torch.tanh(norm(h)))
        else:
            h = torch.tanh(norm(recurrent(h)))
        if self.rla_add == 'after':
            h = h + conv_out(s)
        return h

    def _step(self, block: nn.Module, index: int, x: Tensor,
              state: State) -> Tuple[Tensor, State]:
        """One block followed by the RLA update of the hidden state."""
        h = hidden_of(state) if self.rla_exchange else None
        if self.rla_source == 'shortcut':
            x, s = block(x, h, shortcut=True)
        else:
            x, s = block(x, h)
            if self.rla_source == 'output':
                s = x
        return x, self._update(index, s, match_state(state, x))

    def forward(self, x: Tensor,
                h: Optional[State]) -> Tuple[Tensor, Optional[State]]:
        """Run the stage.

        Args:
            x (Tensor): Main features (N, C_in, H, W).
            h (Tensor | tuple | None): Hidden state (N, k, H, W), the pair
                (h, c) with ``rla_cell='lstm'``; None in a plain stage.

        Returns:
            tuple[Tensor, Tensor | tuple | None]: The stage output and the new
            state (None when ``update_last`` is False or the stage is plain).
        """
        for index, block in enumerate(self.blocks[:len(self.norms)]):
            if self.with_cp and x.requires_grad:
                x, h = cp.checkpoint(
                    self._step, block, index, x, h, use_reentrant=False)
            else:
                x, h = self._step(block, index, x, h)
        # Blocks whose hidden-state update nobody reads: the last one when
        # update_last is False, all of them in a plain stage.
        for block in self.blocks[len(self.norms):]:
            hidden = hidden_of(h) if self.rla_exchange else None
            if self.with_cp and x.requires_grad:
                x, _ = cp.checkpoint(block, x, hidden, use_reentrant=False)
            else:
                x, _ = block(x, hidden)
            h = None
        return x, h
