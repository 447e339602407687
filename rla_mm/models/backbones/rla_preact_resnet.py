"""Pre-activation RLA-ResNets for CIFAR (paper Sec. 4.1, Tables 2, 7, 8).

RLA-ResNet-110 (basic blocks, k = 4) and RLA-ResNet-164 (bottlenecks, k = 12)
on 32x32 inputs. Blocks are BN-ReLU-Conv; the hidden state is concatenated to
x at the block input, so the first BN of every branch sees C_in + k channels
(Eq. 11 with F_t starting with its pre-activation). ``rla_channel=0`` builds
the plain pre-activation ResNet of He et al. (2016) with the same stages, the
baseline.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from ...checks import check_int
from ...registry import register_model
from ..layers import block_input
from .base import RLABackbone, StageSpec, extra_planes


class _RLAPreActBlock(BaseModule):
    """Pre-activation residual block: BN-ReLU-conv units on [x, h].

    A block is its ``units``: one ``(kernel size, strides)`` pair per unit; the
    last unit widens to ``planes * expansion``.

    ``forward(x, h=None, taps=None)`` as the blocks of :class:`RLAStage`.

    Args:
        inplanes (int): Input channels of x.
        planes (int): Base channels; the output has ``planes * expansion``.
        rla_channel (int): Hidden channels k joined to x (0: plain block).
        stride (int): Stride of the unit that strides. Default: 1.
        downsample (nn.Module, optional): Shortcut projection.
        with_cp (bool): The stage runs the block and its RLA update under
            activation checkpointing. Default: False.
        conv_cfg (dict, optional): Conv config.
        norm_cfg (dict): Norm config. Default: BN.
        init_cfg (dict, optional): Initialization config.
    """
    expansion: int
    units: Tuple[Tuple[int, bool], ...]
    rla_taps = ('branch', 'shortcut')

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 rla_channel: int,
                 stride: int = 1,
                 downsample: Optional[nn.Module] = None,
                 with_cp: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels, self.out_channels = inplanes, planes * self.expansion
        self.mid_channels, self.rla_channel = planes, rla_channel
        self.stride, self.with_cp = stride, with_cp
        channels = inplanes + rla_channel
        for i, (kernel, strides) in enumerate(self.units, 1):
            out = planes * self.expansion if i == len(self.units) else planes
            setattr(self, f'norm{i}', build_norm_layer(norm_cfg, channels)[1])
            setattr(
                self, f'conv{i}',
                build_conv_layer(
                    conv_cfg,
                    channels,
                    out,
                    kernel,
                    stride=stride if strides else 1,
                    padding=kernel // 2,
                    bias=False))
            channels = out
        self.downsample = downsample

    def forward(self,
                x: Tensor,
                h: Optional[Tensor] = None,
                taps: Optional[Dict[str, Tensor]] = None) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = block_input(x, h, self.rla_channel)
        for i in range(1, len(self.units) + 1):
            out = getattr(self, f'conv{i}')(
                F.relu(getattr(self, f'norm{i}')(out)))
        if taps is not None:
            taps['branch'], taps['shortcut'] = out, identity
        return out + identity


class RLAPreActBasicBlock(_RLAPreActBlock):
    """Pre-activation basic block: BN-ReLU-3x3 (stride), BN-ReLU-3x3."""
    expansion = 1
    units = ((3, True), (3, False))


class RLAPreActBottleneck(_RLAPreActBlock):
    """Pre-activation bottleneck: BN-ReLU-1x1, BN-ReLU-3x3 (stride),
    BN-ReLU-1x1 (to ``planes * 4``)."""
    expansion = 4
    units = ((1, False), (3, True), (1, False))


@register_model()
class RLAPreActResNet(RLABackbone):
    """Pre-activation (RLA-)ResNet for 32x32 images (CIFAR).

    A 3x3 stem conv (16 channels), three stages of ``(depth - 2) / 6`` basic
    blocks or ``(depth - 2) / 9`` bottlenecks at 16, 32, 64 base channels
    (strides 1, 2, 2), then the final BN-ReLU of pre-activation networks. With
    RLA, h starts at zero after the stem and the last stage's output is
    ``cat[relu(bn(x)), relu(bn_hidden(h))]``.

    Args:
        depth (int): 20, 32, 44, 56, 110 (basic) or 164, 1001 (bottleneck).
        rla_channel (int): Hidden channels k; 0 builds the plain network.
            Default: 12 (the paper uses 4 for depth 110).
        base_channels (int): Channels of the stem and the first stage.
            Default: 16.
        out_indices (Sequence[int]): Stages to return (0-2). Default: (2, ).
        rla_source (str): 'branch' (Eq. 11) or 'output'. Default: 'branch'.
        cat_hidden (bool): Concatenate relu(bn(h)) to the last stage output.
            Default: True (needs ``rla_channel > 0``).
        extra_channels (int): Widen every block's output by this many
            channels (its inner widths by ``extra_channels / expansion``): with
            ``rla_channel=0``, the "channel + k" baseline of the paper's
            Tables 11 and 12. Default: 0.
        **kwargs: ``frozen_stages``, ``in_channels``, ``conv_cfg``,
            ``norm_cfg``, ``norm_eval``, ``with_cp``, ``init_cfg``, the
            ablation options (``rla_add``, ``rla_act``, ``rla_cell``,
            ``rla_shared``, ``rla_exchange``) and ``hidden_act``,
            ``hidden_norm`` of :class:`RLABackbone`.

    Example:
        >>> import torch
        >>> from rla_mm.models import RLAPreActResNet
        >>> model = RLAPreActResNet(depth=164).eval()
        >>> print(tuple(model(torch.rand(1, 3, 32, 32))[0].shape))
        (1, 268, 8, 8)
    """

    arch_settings = {
        20: (RLAPreActBasicBlock, 3),
        32: (RLAPreActBasicBlock, 5),
        44: (RLAPreActBasicBlock, 7),
        56: (RLAPreActBasicBlock, 9),
        110: (RLAPreActBasicBlock, 18),
        164: (RLAPreActBottleneck, 18),
        1001: (RLAPreActBottleneck, 111),
    }
    min_rla_channel = 0
    takes_rla_variants = True

    def __init__(self,
                 depth: int,
                 rla_channel: int = 12,
                 base_channels: int = 16,
                 out_indices: Sequence[int] = (2, ),
                 rla_source: str = 'branch',
                 cat_hidden: bool = True,
                 extra_channels: int = 0,
                 **kwargs):
        if depth not in self.arch_settings:
            raise ValueError(f'invalid depth {depth!r} for RLAPreActResNet, '
                             f'expected one of {tuple(self.arch_settings)}')
        self.depth = depth
        self.block, self.num_blocks = self.arch_settings[depth]
        self.extra_planes = extra_planes(extra_channels, self.block.expansion)
        self.base_channels = check_int('base_channels', base_channels, 1)
        super().__init__(
            3,
            rla_channel,
            out_indices,
            cat_hidden,
            rla_source=rla_source,
            **kwargs)

    def make_stem(self) -> Tuple[int, int]:
        """One 3x3 conv at stride 1."""
        self.conv1 = build_conv_layer(
            self.conv_cfg,
            self.in_channels,
            self.base_channels,
            3,
            padding=1,
            bias=False)
        return self.base_channels, 1

    def stem_modules(self) -> List[nn.Module]:
        return [self.conv1]

    def forward_stem(self, x: Tensor) -> Tensor:
        return self.conv1(x)

    def make_stage(self, index: int, in_channels: int) -> StageSpec:
        """``num_blocks`` blocks; the first of stages 2 and 3 strides."""
        planes = self.base_channels * 2**index + self.extra_planes
        out_channels = planes * self.block.expansion
        stride = 1 if index == 0 else 2
        blocks = []
        for b in range(self.num_blocks):
            downsample = None
            if b == 0 and (stride != 1 or in_channels != out_channels):
                downsample = build_conv_layer(
                    self.conv_cfg,
                    in_channels,
                    out_channels,
                    1,
                    stride=stride,
                    bias=False)
            blocks.append(
                self.block(
                    in_channels if b == 0 else out_channels,
                    planes,
                    self.block_rla_channel,
                    stride=stride if b == 0 else 1,
                    downsample=downsample,
                    with_cp=self.with_cp,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg))
        return StageSpec(blocks, out_channels, stride)

    def make_close(self, in_channels: int) -> Tuple[int, str]:
        """The final BN of pre-activation networks (h joins after it)."""
        self.final_norm = build_norm_layer(self.norm_cfg, in_channels)[1]
        return in_channels, 'final_norm'

    def forward_close(self, x: Tensor) -> Tensor:
        return F.relu(self.final_norm(x))
