"""RLA-MobileNetV2 (paper Table 3, Appendix B.2.1) for MMPretrain and
MMDetection."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import ConvModule, build_conv_layer
from mmengine.model import BaseModule
from torch import Tensor

from ...checks import check_choice
from ...registry import register_model
from ..layers import ECALayer, block_input
from .base import RLABackbone, StageSpec, eca_kernel_sizes


def make_divisible(value: float, divisor: int) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, losing at most
    10%.

    Args:
        value (float): Channel count before rounding.
        divisor (int): The result is a multiple of it.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class RLAInvertedResidual(BaseModule):
    """Inverted residual that joins h after its expansion 1x1 conv (paper
    Appendix B.2.1); ``forward(x, h=None, taps=None)`` as the blocks of
    :class:`RLAStage` (``taps['branch']``: the projection's output).

    Args:
        in_channels (int): Input channels of x.
        out_channels (int): Output channels.
        stride (int): Stride of the depthwise conv (1 or 2).
        expand_ratio (int): Expansion of the hidden width.
        rla_channel (int): Hidden-state channels k.
        eca_kernel (int, optional): ECA kernel size after the projection.
        with_cp (bool): The stage runs the block and its RLA update under
            activation checkpointing. Default: False.
        conv_cfg (dict, optional): Conv config.
        norm_cfg (dict): Norm config. Default: BN.
        act_cfg (dict): Activation config. Default: ReLU6.
        init_cfg (dict, optional): Initialization config.
    """
    rla_taps = ('branch', )

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int,
                 expand_ratio: int,
                 rla_channel: int,
                 eca_kernel: Optional[int] = None,
                 with_cp: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU6'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        check_choice('stride', stride, (1, 2))
        self.in_channels, self.out_channels = in_channels, out_channels
        self.stride, self.rla_channel = stride, rla_channel
        self.with_cp = with_cp
        self.use_res_connect = stride == 1 and in_channels == out_channels
        hidden = int(round(in_channels * expand_ratio))
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.expand = None
        if expand_ratio != 1:
            self.expand = ConvModule(
                in_channels, hidden, 1, act_cfg=act_cfg, **common)
        width = hidden + rla_channel
        self.depthwise = ConvModule(
            width,
            width,
            3,
            stride=stride,
            padding=1,
            groups=width,
            act_cfg=act_cfg,
            **common)
        self.project = ConvModule(
            width, out_channels, 1, act_cfg=None, **common)
        self.eca = ECALayer(eca_kernel) if eca_kernel else None

    def forward(self,
                x: Tensor,
                h: Optional[Tensor] = None,
                taps: Optional[Dict[str, Tensor]] = None) -> Tensor:
        out = x if self.expand is None else self.expand(x)
        out = self.project(
            self.depthwise(block_input(out, h, self.rla_channel)))
        if self.eca is not None:
            out = self.eca(out)
        if taps is not None:
            taps['branch'] = out
        return x + out if self.use_res_connect else out


@register_model()
class RLAMobileNetV2(RLABackbone):
    """MobileNetV2 with Recurrent Layer Aggregation.

    The seven block groups (``layer1`` .. ``layer7``) are RLA stages, each with
    its own ``conv_out``. Groups at the same resolution share one 3x3 depthwise
    recurrent conv (five resolutions). The close is the last 1x1 conv
    (``conv2``, output 7); with ``cat_hidden`` it reads relu6(bn_hidden(h))
    concatenated to x (320 + k -> 1280 channels), as in the paper.

    Args:
        rla_channel (int): Hidden channels k. Default: 32.
        widen_factor (float): Width multiplier. Default: 1.0.
        out_indices (Sequence[int]): Outputs, 0-6 for ``layer1``..``layer7``
            and 7 for ``conv2``. Groups after the deepest output and ``conv2``
            (when 7 is not asked for) are not built. Default: (7, ).
        eca (bool | Sequence[int], optional): ECA after every block. True uses
            the reference's kernel sizes (1 below 96 channels, else 3); a
            sequence gives one odd kernel size per block group. Default: None
            (off).
        share_recurrent (bool): One recurrent conv shared by all five
            resolution stages, as in the authors' code and weights (3,624,168
            parameters); False builds one per resolution. Default: True.
        rla_source (str): 'branch' (Eq. 11 and the authors' MobileNetV2 code)
            or 'output'. Default: 'branch'.
        cat_hidden (bool): ``conv2`` reads the hidden state too (the paper's
            model); False builds a ``conv2`` on x alone. Default: True.
        act_cfg (dict): Activation config. Default: ReLU6.
        **kwargs: ``frozen_stages`` (8 freezes ``conv2`` too), ``in_channels``,
            ``conv_cfg``, ``norm_cfg``, ``norm_eval``, ``with_cp`` and
            ``init_cfg`` of
            :class:`RLABackbone`.

    Example:
        >>> import torch
        >>> from rla_mm.models import RLAMobileNetV2
        >>> model = RLAMobileNetV2(out_indices=(2, 4, 7)).eval()
        >>> for out in model(torch.rand(1, 3, 64, 64)):
        ...     print(tuple(out.shape))
        (1, 32, 8, 8)
        (1, 96, 4, 4)
        (1, 1280, 2, 2)
    """

    # expand_ratio, channels, num_blocks, stride of the first block
    arch_settings = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2],
                     [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2],
                     [6, 320, 1, 1]]
    close_has_output = True
    join_before_close = True  # conv2 reads [x, h]
    default_hidden_act = 'relu6'

    def __init__(self,
                 rla_channel: int = 32,
                 widen_factor: float = 1.0,
                 out_indices: Sequence[int] = (7, ),
                 eca: Union[bool, Sequence[int], None] = None,
                 share_recurrent: bool = True,
                 rla_source: str = 'branch',
                 cat_hidden: bool = True,
                 act_cfg: dict = dict(type='ReLU6'),
                 **kwargs):
        if isinstance(widen_factor, bool) \
                or not isinstance(widen_factor, (int, float)) \
                or widen_factor <= 0:
            raise ValueError(f'widen_factor must be > 0, got {widen_factor!r}')
        self.widen_factor = widen_factor
        self.eca_kernels = eca_kernel_sizes(
            eca,
            len(self.arch_settings),
            [1 if c < 96 else 3 for _, c, _, _ in self.arch_settings],
            unit='block group')
        self.share_recurrent = share_recurrent
        self.act_cfg = act_cfg
        super().__init__(
            len(self.arch_settings),
            rla_channel,
            out_indices,
            cat_hidden,
            rla_source=rla_source,
            **kwargs)

    def make_stem(self) -> Tuple[int, int]:
        """A 3x3 stride-2 conv (``conv1``)."""
        channels = make_divisible(32 * self.widen_factor, 8)
        self.conv1 = ConvModule(
            self.in_channels,
            channels,
            3,
            stride=2,
            padding=1,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        return channels, 2

    def stem_modules(self) -> List[nn.Module]:
        return [self.conv1]

    def forward_stem(self, x: Tensor) -> Tensor:
        return self.conv1(x)

    def make_stage(self, index: int, in_channels: int) -> StageSpec:
        """Block group ``index``; a new resolution gets a new recurrent conv
        unless ``share_recurrent``."""
        ratio, channels, num_blocks, stride = self.arch_settings[index]
        out_channels = make_divisible(channels * self.widen_factor, 8)
        if index == 0 or (stride != 1 and not self.share_recurrent):
            k = self.rla_channel
            recurrent = build_conv_layer(
                self.conv_cfg, k, k, 3, padding=1, groups=k, bias=False)
        else:
            recurrent = getattr(self, self.stage_names[-1]).recurrent_conv
        blocks = [
            RLAInvertedResidual(
                in_channels if j == 0 else out_channels,
                out_channels,
                stride if j == 0 else 1,
                ratio,
                self.rla_channel,
                eca_kernel=self.eca_kernels[index],
                with_cp=self.with_cp,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg) for j in range(num_blocks)
        ]
        return StageSpec(blocks, out_channels, stride, recurrent)

    def make_close(self, in_channels: int) -> Tuple[int, str]:
        """The last 1x1 conv ``conv2`` (on [x, h] with ``cat_hidden``)."""
        out_channels = make_divisible(1280 * max(1.0, self.widen_factor), 8)
        self.conv2 = ConvModule(
            in_channels,
            out_channels,
            1,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        return out_channels, 'conv2'

    def close_modules(self) -> List[nn.Module]:
        return [self.conv2]

    def forward_close(self, x: Tensor) -> Tensor:
        return self.conv2(x)
