"""The RLA stage: blocks of one resolution plus the shared recurrent aggregation.

Every RLA network in rla_mm (ImageNet ResNets, MobileNetV2, the CIFAR models) is a
sequence of :class:`RLAStage` modules. A block only has to accept ``(x, h)`` and return
``(x_new, y)``, where ``y`` is its residual branch output; the stage applies the RLA
update of the paper (Eq. 11)::

    h_t = R(tanh(BN_t(h_{t-1} + O(y_t))))

with ``O`` a 1x1 conv and ``R`` a 3x3 conv shared by all blocks of the stage and one
norm ``BN_t`` per block.

Which tensor feeds ``O`` is a choice (``rla_source``). Eq. 11 reads the branch output
``y_t`` ('branch'). The authors' published ResNet code feeds the block output ``x_t``
instead ('output'): its bottleneck keeps ``y = out`` and then adds the shortcut and
applies ReLU in place, so ``y`` aliases ``x_t``. Their published ResNet weights were
trained that way; their MobileNetV2 code uses the branch output.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from ...checks import check_choice, check_int

RLA_SOURCES = ('branch', 'output')


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


def match_hidden(h: Tensor, x: Tensor) -> Tensor:
    """Average-pool the hidden state ``h`` until it has the spatial size of ``x``.

    A 2x2 stride-2 pool with ``ceil_mode`` halves a size the way a strided 3x3 conv
    with padding 1 does, so odd feature sizes work (the reference crashes on them).
    On even sizes it equals the reference's floor-mode pool.

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
        h = F.avg_pool2d(h, kernel_size=2, stride=2, ceil_mode=True,
                         count_include_pad=False)
    return h


def block_input(x: Tensor, h: Optional[Tensor]) -> Tensor:
    """Return the input of a block's branch, ``cat([x, h], dim=1)`` (Eq. 11), or
    ``x`` alone in a plain network (h is None).

    Args:
        x (Tensor): Features (N, C, H, W).
        h (Tensor, optional): Hidden state (N, k, H, W).
    """
    return x if h is None else torch.cat([x, h], dim=1)


def conv_block_input(conv: nn.Module, x: Tensor, h: Tensor) -> Tensor:
    """Return ``conv(block_input(x, h))`` without building the concatenation.

    A convolution is linear in its input channels, so for a plain ``nn.Conv2d``
    (one group, zero padding) it equals ``conv(x, W[:, :C]) + conv(h, W[:, C:])``
    with ``C`` the channels of ``x``: the one weight of the reference shape is
    sliced, so checkpoints keep their layout, and the copy of x into a
    concatenation (and the slicing of its gradient) disappears. Other conv types
    (weight standardisation, deformable, ...) get the concatenation.

    Args:
        conv (nn.Module): A conv with ``C + k`` input channels.
        x (Tensor): Features (N, C, H, W).
        h (Tensor): Hidden state (N, k, H, W).
    """
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

    Args:
        blocks (list[nn.Module]): Blocks with ``forward(x, h) -> (x, y)``.
        out_channels (int): Channels of the blocks' branch output ``y``.
        rla_channel (int): Hidden channels k. 0 builds a plain stage (no RLA
            parts; blocks get ``h=None``), the baseline of an RLA network.
        recurrent_conv (nn.Module, optional): The shared recurrent conv R. If None,
            a dense 3x3 conv k -> k without bias is built. Pass a module to share
            one R between several stages (RLA-MobileNetV2).
        conv_cfg (dict, optional): Config of the convs. Default: None (Conv2d).
        norm_cfg (dict): Config of the per-block RLA norms. Default: BN.
        rla_source (str): 'branch' feeds the branch output y_t to the RLA
            update (Eq. 11); 'output' feeds the block output x_t, as the
            authors' ResNet code does. Default: 'branch'.
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
                 update_last: bool = True,
                 with_cp: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if len(blocks) == 0:
            raise ValueError('an RLA stage needs at least one block')
        check_rla_source(rla_source)
        check_int('rla_channel', rla_channel, 0)
        self.rla_source = rla_source
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
            self.conv_out = build_conv_layer(
                conv_cfg, out_channels, rla_channel, kernel_size=1,
                bias=False)
            if recurrent_conv is None:
                recurrent_conv = build_conv_layer(
                    conv_cfg, rla_channel, rla_channel, kernel_size=3,
                    padding=1, bias=False)
            self.recurrent_conv = recurrent_conv
        self.with_cp = with_cp

    def _step(self, block: nn.Module, norm: nn.Module, x: Tensor,
              h: Tensor) -> Tuple[Tensor, Tensor]:
        """One block followed by the RLA update of the hidden state."""
        x, y = block(x, h)
        if self.rla_source == 'output':
            y = x
        h = match_hidden(h, x)
        # in place on the fresh conv output (its backward does not read it)
        h = self.recurrent_conv(torch.tanh(norm(self.conv_out(y).add_(h))))
        return x, h

    def forward(self, x: Tensor,
                h: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """Run the stage.

        Args:
            x (Tensor): Main features (N, C_in, H, W).
            h (Tensor | None): Hidden state (N, k, H, W); None in a plain
                stage.

        Returns:
            tuple[Tensor, Tensor | None]: The stage output and the new hidden
            state (None when ``update_last`` is False or the stage is plain).
        """
        for block, norm in zip(self.blocks, self.norms):
            if self.with_cp and x.requires_grad:
                x, h = cp.checkpoint(
                    self._step, block, norm, x, h, use_reentrant=False)
            else:
                x, h = self._step(block, norm, x, h)
        # Blocks whose hidden-state update nobody reads: the last one when
        # update_last is False, all of them in a plain stage.
        for block in self.blocks[len(self.norms):]:
            if self.with_cp and x.requires_grad:
                x, _ = cp.checkpoint(block, x, h, use_reentrant=False)
            else:
                x, _ = block(x, h)
            h = None
        return x, h
