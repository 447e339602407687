"""RLA-MobileNetV2 (paper Table 3, Appendix B.2.1) for MMPretrain and MMDetection."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_conv_layer
from mmengine.model import BaseModule
from torch import Tensor

from ...checks import check_choice, check_indices, check_int
from ...registry import register_model
from ..layers import ECALayer, RLAStage, check_rla_source, init_hidden
from .base import RLABackbone, default_init_cfg, eca_kernel_sizes


def make_divisible(value: float, divisor: int) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, losing at most 10%.

    Args:
        value (float): Channel count before rounding.
        divisor (int): The result is a multiple of it.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class RLAInvertedResidual(BaseModule):
    """Inverted residual that concatenates h after its expansion 1x1 conv.

    Args:
        in_channels (int): Input channels of x.
        out_channels (int): Output channels.
        stride (int): Stride of the depthwise conv (1 or 2).
        expand_ratio (int): Expansion of the hidden width.
        rla_channel (int): Hidden-state channels k.
        eca_kernel (int, optional): ECA kernel size after the projection.
        conv_cfg (dict, optional): Conv config.
        norm_cfg (dict): Norm config. Default: BN.
        act_cfg (dict): Activation config. Default: ReLU6.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int,
                 expand_ratio: int,
                 rla_channel: int,
                 eca_kernel: Optional[int] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU6'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        check_choice('stride', stride, (1, 2))
        self.use_res_connect = stride == 1 and in_channels == out_channels
        hidden = int(round(in_channels * expand_ratio))
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.expand = None
        if expand_ratio != 1:
            self.expand = ConvModule(
                in_channels, hidden, 1, act_cfg=act_cfg, **common)
        width = hidden + rla_channel
        self.depthwise = ConvModule(
            width, width, 3, stride=stride, padding=1, groups=width,
            act_cfg=act_cfg, **common)
        self.project = ConvModule(width, out_channels, 1, act_cfg=None, **common)
        self.eca = ECALayer(eca_kernel) if eca_kernel else None

    def forward(self, x: Tensor, h: Tensor) -> Tuple[Tensor, Tensor]:
        out = x if self.expand is None else self.expand(x)
        out = self.project(self.depthwise(torch.cat([out, h], dim=1)))
        if self.eca is not None:
            out = self.eca(out)
        return (x + out if self.use_res_connect else out), out


@register_model()
class RLAMobileNetV2(RLABackbone):
    """MobileNetV2 with Recurrent Layer Aggregation.

    The seven block groups (``layer1`` .. ``layer7``) are RLA stages, each with its
    own ``conv_out``. Groups at the same resolution share one 3x3 depthwise
    recurrent conv (five resolutions). Before the last 1x1 conv (``conv2``),
    relu6(norm(h)) is concatenated to x (320 + k -> 1280 channels).

    Args:
        rla_channel (int): Hidden channels k. Default: 32.
        widen_factor (float): Width multiplier. Default: 1.0.
        out_indices (Sequence[int]): Outputs, 0-6 for ``layer1``..``layer7``
            and 7 for ``conv2``. Default: (7, ).
        eca (bool | Sequence[int], optional): ECA after every block. True uses
            the reference's kernel sizes (1 below 96 channels, else 3); a sequence
            gives one odd kernel size per block group. Default: None (off).
        share_recurrent (bool): One recurrent conv shared by all five
            resolution stages, as in the authors' code and weights (3,624,168
            parameters); False builds one per resolution. Default: True.
        rla_source (str): 'branch' (Eq. 11 and the authors' MobileNetV2 code)
            or 'output'. Default: 'branch'.
        frozen_stages (int): Freeze the stem and this many of
            ``layer1``..``layer7``, ``conv2`` (-1: nothing). Default: -1.
        conv_cfg (dict, optional): Conv config. Default: None.
        norm_cfg (dict): Norm config, RLA norms included. Default: BN.
        act_cfg (dict): Activation config. Default: ReLU6.
        norm_eval (bool): Keep norms in eval mode while training. Default: False.
        with_cp (bool): Activation checkpointing per block. Default: False.
        init_cfg (dict | list[dict], optional): Initialization config.

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

    def __init__(self,
                 rla_channel: int = 32,
                 widen_factor: float = 1.0,
                 out_indices: Sequence[int] = (7, ),
                 eca: Union[bool, Sequence[int], None] = None,
                 share_recurrent: bool = True,
                 rla_source: str = 'branch',
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU6'),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg or default_init_cfg())
        num_groups = len(self.arch_settings)
        check_int('rla_channel', rla_channel, 1)
        if not isinstance(widen_factor, (int, float)) or widen_factor <= 0:
            raise ValueError(f'widen_factor must be > 0, got {widen_factor!r}')
        out_indices = check_indices('out_indices', out_indices, num_groups)
        check_int('frozen_stages', frozen_stages, -1, num_groups + 1)
        check_rla_source(rla_source)
        eca_kernels = eca_kernel_sizes(
            eca, num_groups,
            [1 if c < 96 else 3 for _, c, _, _ in self.arch_settings],
            unit='block group')

        self.rla_channel = rla_channel
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)

        in_channels = make_divisible(32 * widen_factor, 8)
        self.conv1 = ConvModule(
            3, in_channels, 3, stride=2, padding=1, act_cfg=act_cfg, **common)

        recurrent = None
        self.layers: List[str] = []
        for i, (ratio, channels, num_blocks, stride) in enumerate(
                self.arch_settings):
            out_channels = make_divisible(channels * widen_factor, 8)
            # A new resolution starts at the first group and at every stride 2.
            if recurrent is None or (stride != 1 and not share_recurrent):
                recurrent = build_conv_layer(
                    conv_cfg, rla_channel, rla_channel, 3, padding=1,
                    groups=rla_channel, bias=False)
            blocks = [
                RLAInvertedResidual(
                    in_channels if j == 0 else out_channels, out_channels,
                    stride if j == 0 else 1, ratio, rla_channel,
                    eca_kernel=eca_kernels[i], act_cfg=act_cfg, **common)
                for j in range(num_blocks)
            ]
            stage = RLAStage(blocks, out_channels, rla_channel,
                             recurrent_conv=recurrent, rla_source=rla_source,
                             with_cp=with_cp, **common)
            in_channels = out_channels
            self.add_module(f'layer{i + 1}', stage)
            self.layers.append(f'layer{i + 1}')

        self._add_hidden_norm(norm_cfg, rla_channel)
        self.out_channel = make_divisible(1280 * max(1.0, widen_factor), 8)
        self.conv2 = ConvModule(in_channels + rla_channel, self.out_channel, 1,
                                act_cfg=act_cfg, **common)
        self._freeze_stages()

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Return the features of ``out_indices``."""
        self._check_input(x)
        x = self.conv1(x)
        h = init_hidden(x, self.rla_channel)
        outs = []
        for i, name in enumerate(self.layers):
            x, h = getattr(self, name)(x, h)
            if i in self.out_indices:
                outs.append(x)
        if len(self.layers) in self.out_indices:
            hidden = F.relu6(self.hidden_norm(h))
            outs.append(self.conv2(torch.cat([x, hidden], dim=1)))
        return tuple(outs)

    def frozen_modules(self):
        """``conv1`` and the first ``frozen_stages`` of layer1..layer7, conv2."""
        if self.frozen_stages < 0:
            return []
        names = self.layers + ['conv2']
        modules = [self.conv1] + [getattr(self, n)
                                  for n in names[:self.frozen_stages]]
        if self.frozen_stages > len(self.layers):
            modules.append(self.hidden_norm)  # read by conv2 only
        return modules
