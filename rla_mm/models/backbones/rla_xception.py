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
from typing import Optional, Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from ...checks import check_choice, check_indices, check_int
from ...registry import register_model
from ..layers import RLAStage, check_rla_source, concat_hidden
from .base import RLAStemStagesBackbone, check_cat_hidden, default_init_cfg

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
        out = concat_hidden(x, h)
        for conv in self.convs:
            out = conv(F.relu(out))
        if self.pool is not None:
            out = self.pool(out)
        return out + identity, out


@register_model()
class RLAXception(RLAStemStagesBackbone):
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
        in_channels (int): Input channels. Default: 3.
        stem_channels (int): Output channels of the stem. Default: 64.
        exit_channels (Sequence[int]): Channels of the exit separable convs.
            Default: (768, 1024).
        out_indices (Sequence[int]): Stages to return; the last index is the
            exit output. Default: (len(arch) - 1, ).
        rla_source (str): 'branch' (Eq. 11) or 'output'. Default: 'branch'.
        cat_hidden (bool): Concatenate relu(bn(h)) to the last output.
            Default: True (needs ``rla_channel > 0``).
        frozen_stages (int): Freeze the stem and this many stages (-1: none).
            Default: -1.
        conv_cfg (dict, optional): Conv config. Default: None.
        norm_cfg (dict): Norm config of every norm. Default: BN.
        norm_eval (bool): Keep norms in eval mode while training.
            Default: False.
        with_cp (bool): Activation checkpointing per block. Default: False.
        init_cfg (dict | list[dict], optional): Initialization config.

    Example:
        >>> import torch
        >>> from rla_mm.models import RLAXception
        >>> model = RLAXception().eval()
        >>> print(tuple(model(torch.rand(1, 3, 32, 32))[0].shape))
        (1, 1036, 4, 4)
    """

    def __init__(self,
                 arch: Sequence[Tuple[int, int]] = ARCH_THIN,
                 rla_channel: int = 12,
                 in_channels: int = 3,
                 stem_channels: int = 64,
                 exit_channels: Sequence[int] = (768, 1024),
                 out_indices: Optional[Sequence[int]] = None,
                 rla_source: str = 'branch',
                 cat_hidden: bool = True,
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg or default_init_cfg())
        arch = tuple(tuple(stage) for stage in arch)
        if not arch or any(len(stage) != 2 for stage in arch):
            raise ValueError(f'arch must be a non-empty sequence of (channels, '
                             f'blocks) pairs, got {arch!r}')
        for channels, blocks in arch:
            check_int('arch channels', channels, 1)
            check_int('arch blocks', blocks, 1)
        check_int('rla_channel', rla_channel, 0)
        check_int('in_channels', in_channels, 1)
        check_int('stem_channels', stem_channels, 2)
        for c in exit_channels:
            check_int('exit_channels', c, 1)
        check_rla_source(rla_source)
        last = len(arch) - 1
        out_indices = check_indices(
            'out_indices', (last, ) if out_indices is None else out_indices,
            last)
        check_cat_hidden(cat_hidden, out_indices, last, rla_channel)
        check_int('frozen_stages', frozen_stages, -1, len(arch))

        self.in_channels = in_channels
        self.rla_channel = rla_channel
        self.out_indices = out_indices
        self.cat_hidden = cat_hidden
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        half = stem_channels // 2
        self.stem = nn.Sequential(
            build_conv_layer(conv_cfg, in_channels, half, 3, padding=1,
                             bias=False),
            build_norm_layer(norm_cfg, half)[1], nn.ReLU(inplace=True),
            build_conv_layer(conv_cfg, half, stem_channels, 3, padding=1,
                             bias=False),
            build_norm_layer(norm_cfg, stem_channels)[1], nn.ReLU(inplace=True))
        inplanes = stem_channels
        self.res_layers = []
        for i, (channels, num_blocks) in enumerate(arch):
            blocks = [
                RLAXceptionBlock(inplanes if b == 0 else channels, channels,
                                 rla_channel, stride=2 if b == 0 else 1,
                                 conv_cfg=conv_cfg, norm_cfg=norm_cfg)
                for b in range(num_blocks)
            ]
            stage = RLAStage(
                blocks, out_channels=channels, rla_channels=rla_channel,
                conv_cfg=conv_cfg, norm_cfg=norm_cfg, rla_source=rla_source,
                update_last=cat_hidden or i < last, with_cp=with_cp)
            self.add_module(f'layer{i + 1}', stage)
            self.res_layers.append(f'layer{i + 1}')
            inplanes = channels
        exit_convs = []
        for channels in exit_channels:
            exit_convs += [SeparableConv(inplanes, channels, conv_cfg, norm_cfg),
                           nn.ReLU(inplace=True)]
            inplanes = channels
        self.exit_convs = nn.Sequential(*exit_convs)
        self.feat_dim = inplanes + (rla_channel if cat_hidden else 0)
        if cat_hidden:
            self._add_hidden_norm(norm_cfg, rla_channel)
        self._freeze_stages()

    def stem_modules(self):
        return [self.stem]

    def _stem(self, x: Tensor) -> Tensor:
        return self.stem(x)

    def _close(self, x: Tensor) -> Tensor:
        """The exit flow's separable convs."""
        return self.exit_convs(x)
