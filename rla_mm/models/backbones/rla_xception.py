"""A thin Xception for 32x32 images with RLA (paper Sec. 4.1, Tables 2 and 9).

Xception (Chollet, 2017) scaled to CIFAR: a stride-1 stem, entry-flow blocks that
halve the resolution with a max-pool, a middle flow of identity blocks and an exit
block, all made of depthwise-separable convs. Blocks are grouped into RLA stages by
output resolution (a stage's first block strides); the hidden state joins the
block input, so the first separable conv of each block reads C_in + k channels.
``rla_channel=0`` builds the plain Xception, the baseline.

The paper's Table 9 lists the CIFAR Xception layer by layer; that table could not be
consulted while this was written, so the default ``arch`` is our thin reading of
Chollet's design (see ``ARCH_THIN``) and every width and depth is an argument.
"""
from typing import List, Optional, Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from ...checks import check_choice, check_int
from ...registry import register_model
from ..layers import block_input
from .base import RLABackbone, StageSpec

# One RLA stage per entry: (output channels, blocks). The first block of every
# stage halves the resolution; the rest are identity (middle-flow) blocks.
ARCH_THIN = ((128, 1), (256, 9), (512, 1))


class SeparableConv(BaseModule):
    """Depthwise 3x3 conv followed by a pointwise 1x1 conv, then a norm.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        conv_cfg (dict, optional): Conv config.
        norm_cfg (dict): Norm config. Default: BN.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'), init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.depthwise = build_conv_layer(conv_cfg, in_channels, in_channels, 3,
                                          padding=1, groups=in_channels,
                                          bias=False)
        self.pointwise = build_conv_layer(conv_cfg, in_channels, out_channels,
                                          1, bias=False)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.pointwise(self.depthwise(x)))


class RLAXceptionBlock(BaseModule):
    """Xception block: ``num_convs`` x (ReLU, separable conv), on [x, h].

    A strided block ends with a 3x3 stride-2 max-pool and has a 1x1 strided conv
    + norm shortcut; an identity block has three convs and the identity shortcut.

    Args:
        in_channels (int): Input channels of x.
        out_channels (int): Output channels.
        rla_channel (int): Hidden channels k joined to x (0: plain block).
        stride (int): 1 or 2. Default: 1.
        num_convs (int): Separable convs in the branch. Default: 2 if strided
            else 3.
        conv_cfg (dict, optional): Conv config.
        norm_cfg (dict): Norm config. Default: BN.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self, in_channels: int, out_channels: int, rla_channel: int,
                 stride: int = 1, num_convs: Optional[int] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'), init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        check_choice('stride', stride, (1, 2))
        if num_convs is None:
            num_convs = 2 if stride == 2 else 3
        check_int('num_convs', num_convs, 1)
        self.convs = nn.ModuleList(
            SeparableConv(in_channels + rla_channel if i == 0 else out_channels,
                          out_channels, conv_cfg, norm_cfg)
            for i in range(num_convs))
        self.pool = nn.MaxPool2d(3, stride=2, padding=1) if stride == 2 \
            else None
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                build_conv_layer(conv_cfg, in_channels, out_channels, 1,
                                 stride=stride, bias=False),
                build_norm_layer(norm_cfg, out_channels)[1])

    def forward(self, x: Tensor, h: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        identity = x if self.shortcut is None else self.shortcut(x)
        out = block_input(x, h)
        for conv in self.convs:
            out = conv(F.relu(out))
        if self.pool is not None:
            out = self.pool(out)
        return out + identity, out


@register_model()
class RLAXception(RLABackbone):
    """Thin (RLA-)Xception for 32x32 images (CIFAR).

    Stem: two 3x3 convs (``stem_channels`` // 2, ``stem_channels``) at stride 1.
    Then one RLA stage per ``arch`` entry, and the exit convs: separable
    convs to ``exit_channels`` with ReLU. With RLA, the output of the last stage
    is ``cat[x, relu(bn_hidden(h))]``.

    Args:
        arch (Sequence[tuple[int, int]]): (channels, blocks) per stage; the first
            block of each stage strides. Default: ``ARCH_THIN``.
        rla_channel (int): Hidden channels k; 0 builds the plain network.
            Default: 12.
        stem_channels (int): Output channels of the stem. Default: 64.
        exit_channels (Sequence[int]): Channels of the exit separable convs.
            Default: (768, 1024).
        out_indices (Sequence[int]): Stages to return; the last index is the
            exit output. Default: (len(arch) - 1, ).
        rla_source (str): 'branch' (Eq. 11) or 'output'. Default: 'branch'.
        cat_hidden (bool): Concatenate relu(bn(h)) to the last output.
            Default: True (needs ``rla_channel > 0``).
        **kwargs: ``frozen_stages``, ``in_channels``, ``conv_cfg``,
            ``norm_cfg``, ``norm_eval``, ``with_cp`` and ``init_cfg`` of
            :class:`RLABackbone`.

    Example:
        >>> import torch
        >>> from rla_mm.models import RLAXception
        >>> model = RLAXception().eval()
        >>> print(tuple(model(torch.rand(1, 3, 32, 32))[0].shape))
        (1, 1036, 4, 4)
    """

    min_rla_channel = 0

    def __init__(self,
                 arch: Sequence[Tuple[int, int]] = ARCH_THIN,
                 rla_channel: int = 12,
                 stem_channels: int = 64,
                 exit_channels: Sequence[int] = (768, 1024),
                 out_indices: Optional[Sequence[int]] = None,
                 rla_source: str = 'branch',
                 cat_hidden: bool = True,
                 **kwargs):
        arch = tuple(tuple(stage) for stage in arch)
        if not arch or any(len(stage) != 2 for stage in arch):
            raise ValueError(f'arch must be a non-empty sequence of (channels, '
                             f'blocks) pairs, got {arch!r}')
        for channels, blocks in arch:
            check_int('arch channels', channels, 1)
            check_int('arch blocks', blocks, 1)
        self.arch = arch
        self.stem_channels = check_int('stem_channels', stem_channels, 2)
        self.exit_channels = tuple(
            check_int('exit_channels', c, 1) for c in exit_channels)
        last = len(arch) - 1
        super().__init__(len(arch), rla_channel,
                         (last, ) if out_indices is None else out_indices,
                         cat_hidden, rla_source=rla_source, **kwargs)

    def make_stem(self) -> Tuple[int, int]:
        """Two 3x3 convs at stride 1."""
        half = self.stem_channels // 2
        self.stem = nn.Sequential(
            build_conv_layer(self.conv_cfg, self.in_channels, half, 3,
                             padding=1, bias=False),
            build_norm_layer(self.norm_cfg, half)[1], nn.ReLU(inplace=True),
            build_conv_layer(self.conv_cfg, half, self.stem_channels, 3,
                             padding=1, bias=False),
            build_norm_layer(self.norm_cfg, self.stem_channels)[1],
            nn.ReLU(inplace=True))
        return self.stem_channels, 1

    def stem_modules(self) -> List[nn.Module]:
        return [self.stem]

    def forward_stem(self, x: Tensor) -> Tensor:
        return self.stem(x)

    def make_stage(self, index: int, in_channels: int) -> StageSpec:
        """A strided block, then identity (middle-flow) blocks."""
        channels, num_blocks = self.arch[index]
        blocks = [
            RLAXceptionBlock(in_channels if b == 0 else channels, channels,
                             self.rla_channel, stride=2 if b == 0 else 1,
                             conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg)
            for b in range(num_blocks)
        ]
        return StageSpec(blocks, channels, 2)

    def make_close(self, in_channels: int) -> Tuple[int, str]:
        """The exit flow's separable convs, and ``bn_hidden``."""
        exit_convs = []
        for channels in self.exit_channels:
            exit_convs += [
                SeparableConv(in_channels, channels, self.conv_cfg,
                              self.norm_cfg),
                nn.ReLU(inplace=True)
            ]
            in_channels = channels
        self.exit_convs = nn.Sequential(*exit_convs)
        if self.cat_hidden:
            in_channels += self.add_hidden_norm()
        return in_channels, 'exit_convs'

    def forward_close(self, x: Tensor, h: Optional[Tensor]) -> Tensor:
        """The exit flow, then h joins."""
        return self.append_hidden(self.exit_convs(x), h)
