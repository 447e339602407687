"""The thin Xception for 32x32 images with RLA
(paper Sec. 4.1, Tables 2 and 9).

Xception (Chollet, 2017) scaled to CIFAR as the paper's Table 9 lists it: a 3x3
stem (16, 32 channels, stride 1), Chollet's blocks with fewer channels and the
same depth, 3x3 average pools (instead of max pools) for the two remaining
downsamplings, and BN after every conv and separable conv (a 3x3 depthwise
conv, then a 1x1 pointwise conv)::

    32x32  conv 3x3, 16, relu; conv 3x3, 32, relu                   stem
    32x32  [sep 64; relu; sep 64]                                   entry flow
    32x32  [relu; sep 128; relu; sep 128]
    32x32  [relu; sep 256; relu; sep 256]
    16x16  [relu; sep 256; relu; sep 256; relu; sep 256] x 8        middle flow
    16x16  [relu; sep 256; relu; sep 512]                           exit flow
     8x8   [sep 512; relu; sep 512; relu]
           global average pool, fc

Every bracketed block reads ``[x, h]`` (k = 12 more input channels in its first
separable conv). Each row is one :class:`RLAStage` (its own ``conv_out``); the
stages of one resolution share one recurrent conv, as in the authors'
RLA-MobileNetV2. The first block of the 16x16 and 8x8 stages starts with
the pool, so every layer of a row runs at that row's resolution; the entry,
middle and exit-flow blocks are residual (a 1x1 conv + BN shortcut where the
width changes), the last block is not (Chollet's exit convs).

The third entry block (256) is Chollet's third entry module (728 wide in his
network): the paper keeps Xception's depth, and its Table 2 parameter counts
are this network's; without that row they are not reached
(``configs/README.md``).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from ...checks import check_bool, check_choice, check_int
from ...registry import register_model
from ..layers import block_input, match_hidden
from .base import RLABackbone, StageSpec

# One RLA stage (block group) per entry, as in the paper's Table 9:
# (widths of a block's separable convs, blocks, stride of the first block,
# residual). Groups of one resolution share a recurrent conv.
ARCH_CIFAR = (
    ((64, 64), 1, 1, True),  # entry flow, 32x32
    ((128, 128), 1, 1, True),
    ((256, 256), 1, 1, True),
    ((256, 256, 256), 8, 2, True),  # middle flow, 16x16
    ((256, 512), 1, 1, True),  # exit flow
    ((512, 512), 1, 2, False),  # exit convs, 8x8
)


class SeparableConv(BaseModule):
    """Depthwise 3x3 conv followed by a pointwise 1x1 conv, then a norm.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        conv_cfg (dict, optional): Conv config.
        norm_cfg (dict): Norm config. Default: BN.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.depthwise = build_conv_layer(
            conv_cfg,
            in_channels,
            in_channels,
            3,
            padding=1,
            groups=in_channels,
            bias=False)
        self.pointwise = build_conv_layer(
            conv_cfg, in_channels, out_channels, 1, bias=False)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.pointwise(self.depthwise(x)))


class RLAXceptionBlock(BaseModule):
    """Xception block on ``[x, h]``: separable convs, after (stride 2) a 3x3
    stride-2 average pool of x, so that every conv runs at the output
    resolution.

    A residual block is pre-activated (ReLU before each separable conv, the
    first one only with ``first_relu``) and adds a shortcut from the (pooled)
    input: the identity, or a 1x1 conv + norm where the width changes. A plain
    block (Chollet's exit convs) is post-activated
    (ReLU after each separable conv) and has no shortcut. A strided block pools
    h as :class:`RLAStage` pools it after the block (2x2), so the block reads
    the state the stage updates.

    Args:
        in_channels (int): Input channels of x.
        widths (Sequence[int]): Output channels of the separable convs.
        rla_channel (int): Hidden channels k joined to x (0: plain block).
        stride (int): 1 or 2. Default: 1.
        residual (bool): Pre-activated with a shortcut, or post-activated
            without. Default: True.
        first_relu (bool): ReLU before the first separable conv of a residual
            block (False where the input is already activated). Default: True.
        with_cp (bool): The stage runs the block and its RLA update under
            activation checkpointing. Default: False.
        conv_cfg (dict, optional): Conv config.
        norm_cfg (dict): Norm config. Default: BN.
        init_cfg (dict, optional): Initialization config.
    """
    rla_taps = ('branch', )

    def __init__(self,
                 in_channels: int,
                 widths: Sequence[int],
                 rla_channel: int,
                 stride: int = 1,
                 residual: bool = True,
                 first_relu: bool = True,
                 with_cp: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        check_choice('stride', stride, (1, 2))
        widths = tuple(check_int('widths', w, 1) for w in widths)
        if not widths:
            raise ValueError('widths must name at least one separable conv, '
                             'got ()')
        self.residual = check_bool('residual', residual)
        self.first_relu = check_bool('first_relu', first_relu)
        self.in_channels, self.out_channels = in_channels, widths[-1]
        self.rla_channel, self.with_cp = rla_channel, with_cp
        inputs = (in_channels + rla_channel, ) + widths[:-1]
        self.convs = nn.ModuleList(
            SeparableConv(c_in, c_out, conv_cfg, norm_cfg)
            for c_in, c_out in zip(inputs, widths))
        self.pool = nn.AvgPool2d(3, stride=2, padding=1,
                                 count_include_pad=False) \
            if stride == 2 else None
        self.shortcut = None
        if residual and in_channels != self.out_channels:
            self.shortcut = nn.Sequential(
                build_conv_layer(
                    conv_cfg, in_channels, self.out_channels, 1, bias=False),
                build_norm_layer(norm_cfg, self.out_channels)[1])

    def forward(self,
                x: Tensor,
                h: Optional[Tensor] = None,
                taps: Optional[Dict[str, Tensor]] = None) -> Tensor:
        if self.pool is not None:
            x = self.pool(x)
            # h pooled as the RLA stage pools it after the block
            h = None if h is None else match_hidden(h, x)
        out = block_input(x, h, self.rla_channel)
        for i, conv in enumerate(self.convs):
            if self.residual and (i > 0 or self.first_relu):
                out = F.relu(out)
            out = conv(out)
            if not self.residual:
                out = F.relu(out)
        if taps is not None:
            taps['branch'] = out
        if not self.residual:
            return out
        identity = x if self.shortcut is None else self.shortcut(x)
        return out + identity


@register_model()
class RLAXception(RLABackbone):
    """The thin (RLA-)Xception of the paper's Table 9, for 32x32 images
    (CIFAR).

    Stem: two 3x3 convs (``stem_channels`` // 2, ``stem_channels``) at stride
    1, each with BN and ReLU. Then one RLA stage per ``arch`` entry (``layer1``
    .. ``layer6`` by default); a stage whose first block strides starts a new
    recurrent conv, the others share the previous stage's. With ``cat_hidden``,
    the last output is ``cat[x, relu(bn_hidden(h))]`` (512 + 12 channels).

    Args:
        arch (Sequence[tuple]): Per stage: (separable conv widths of a block,
            blocks, stride of the first block (1 or 2), residual). The first
            stage may not stride. Default: ``ARCH_CIFAR`` (Table 9).
        rla_channel (int): Hidden channels k; 0 builds the plain network.
            Default: 12.
        stem_channels (int): Output channels of the stem. Default: 32.
        out_indices (Sequence[int]): Stages to return. Default:
            (len(arch) - 1, ).
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
        (1, 524, 8, 8)
    """

    min_rla_channel = 0

    def __init__(self,
                 arch: Sequence[tuple] = ARCH_CIFAR,
                 rla_channel: int = 12,
                 stem_channels: int = 32,
                 out_indices: Optional[Sequence[int]] = None,
                 rla_source: str = 'branch',
                 cat_hidden: bool = True,
                 **kwargs):
        self.arch = self.check_arch(arch)
        self.stem_channels = check_int('stem_channels', stem_channels, 2)
        last = len(self.arch) - 1
        super().__init__(
            len(self.arch),
            rla_channel, (last, ) if out_indices is None else out_indices,
            cat_hidden,
            rla_source=rla_source,
            **kwargs)

    @staticmethod
    def check_arch(arch) -> Tuple[tuple, ...]:
        """``arch`` as a tuple of checked (widths, blocks, stride,
        residual)."""
        if isinstance(arch, (str, bytes)) or not hasattr(arch, '__len__') \
                or not arch or any(
                    not hasattr(stage, '__len__') or len(stage) != 4
                    for stage in arch):
            raise ValueError(
                f'arch must be a non-empty sequence of (widths, '
                f'blocks, stride, residual) entries, got {arch!r}')
        checked = []
        for widths, blocks, stride, residual in arch:
            if isinstance(widths, (str, bytes)) \
                    or not hasattr(widths, '__len__') or not widths:
                raise ValueError(
                    f'arch widths must be a non-empty sequence of '
                    f'channels, got {widths!r}')
            checked.append(
                (tuple(check_int('arch widths', w, 1)
                       for w in widths), check_int('arch blocks', blocks, 1),
                 check_choice('arch stride', stride,
                              (1, 2)), check_bool('arch residual', residual)))
        if checked[0][2] != 1:
            raise ValueError(f'arch stride of the first stage must be 1 (it '
                             f'shares the stem resolution), got '
                             f'{checked[0][2]!r}')
        return tuple(checked)

    def make_stem(self) -> Tuple[int, int]:
        """Two 3x3 convs at stride 1."""
        half = self.stem_channels // 2
        self.stem = nn.Sequential(
            build_conv_layer(
                self.conv_cfg,
                self.in_channels,
                half,
                3,
                padding=1,
                bias=False),
            build_norm_layer(self.norm_cfg, half)[1], nn.ReLU(inplace=True),
            build_conv_layer(
                self.conv_cfg,
                half,
                self.stem_channels,
                3,
                padding=1,
                bias=False),
            build_norm_layer(self.norm_cfg, self.stem_channels)[1],
            nn.ReLU(inplace=True))
        return self.stem_channels, 1

    def stem_modules(self) -> List[nn.Module]:
        return [self.stem]

    def forward_stem(self, x: Tensor) -> Tensor:
        return self.stem(x)

    def make_stage(self, index: int, in_channels: int) -> StageSpec:
        """The blocks of stage ``index``; a stage that strides starts a new
        recurrent conv, the others share the previous stage's."""
        widths, num_blocks, stride, residual = self.arch[index]
        # The stem and a plain block end with a ReLU: the next block starts
        # without one.
        after_relu = index == 0 or not self.arch[index - 1][3]
        blocks = [
            RLAXceptionBlock(
                in_channels if b == 0 else widths[-1],
                widths,
                self.rla_channel,
                stride=stride if b == 0 else 1,
                residual=residual,
                first_relu=not (b == 0 and after_relu),
                with_cp=self.with_cp,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg) for b in range(num_blocks)
        ]
        recurrent = None
        if stride == 1 and index > 0:
            recurrent = getattr(self, self.stage_names[-1]).recurrent_conv
        return StageSpec(blocks, widths[-1], stride, recurrent)
