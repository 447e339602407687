"""RLA-ResNet backbones (paper Sec. 3.3, Table 3) for MMDetection and MMPretrain."""
from typing import List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from mmengine.model.weight_init import constant_init
from torch import Tensor

from ...checks import check_choice, check_int
from ...registry import register_model
from ..layers import ECALayer, SELayer, conv_block_input
from .base import RLABackbone, StageSpec, eca_kernel_sizes, extra_planes

DEFAULT_ECA_KERNELS = (5, 5, 5, 7)
DEFAULT_SE_REDUCTION = 16


class _RLAResidualBlock(BaseModule):
    """Shared tail of the RLA residual blocks: attention, then the residual sum.

    Args:
        out_channels (int): Channels of the branch output.
        se (int, optional): SE reduction, or None for no SE.
        eca_kernel (int, optional): ECA kernel size, or None for no ECA.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self, out_channels: int, se: Optional[int],
                 eca_kernel: Optional[int], init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.se = SELayer(out_channels, se) if se else None
        self.eca = ECALayer(eca_kernel) if eca_kernel else None

    def _finish(self, out: Tensor, identity: Tensor,
                shortcut: bool) -> Tuple[Tensor, Tensor]:
        """The block output and the branch output y (or, with ``shortcut``,
        the shortcut)."""
        if self.se is not None:
            out = self.se(out)
        if self.eca is not None:
            out = self.eca(out)
        # ReLU in place on the fresh sum; ``out`` (the branch output y) stays
        return (out + identity).relu_(), identity if shortcut else out


class RLABasicBlock(_RLAResidualBlock):
    """Post-activation basic block whose first conv also reads the hidden state.

    Args:
        inplanes (int): Input channels of x.
        planes (int): Output channels.
        rla_channel (int): Hidden channels k, concatenated to x.
        stride (int): Stride of the first conv. Default: 1.
        dilation (int): Dilation of the convs. Default: 1.
        downsample (nn.Module, optional): Shortcut projection.
        style (str): Unused by basic blocks ('pytorch' or 'caffe').
        groups (int): Must be 1 for basic blocks.
        base_width (int): Must be 64 for basic blocks.
        conv_cfg (dict, optional): Conv config.
        norm_cfg (dict): Norm config. Default: BN.
        se (int, optional): SE reduction, None for no SE.
        eca_kernel (int, optional): ECA kernel size, None for no ECA.
        init_cfg (dict, optional): Initialization config.
    """
    expansion = 1

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 rla_channel: int,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample: Optional[nn.Module] = None,
                 style: str = 'pytorch',
                 groups: int = 1,
                 base_width: int = 64,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 se: Optional[int] = None,
                 eca_kernel: Optional[int] = None,
                 init_cfg=None):
        super().__init__(planes, se, eca_kernel, init_cfg=init_cfg)
        if groups != 1 or base_width != 64:
            raise ValueError('RLABasicBlock supports only groups=1 and '
                             f'base_width=64, got groups={groups}, '
                             f'base_width={base_width}')
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.conv1 = build_conv_layer(
            conv_cfg, inplanes + rla_channel, planes, 3, stride=stride,
            padding=dilation, dilation=dilation, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(
            conv_cfg, planes, planes, 3, padding=1, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    @property
    def last_norm(self) -> nn.Module:
        """The norm that closes the residual branch (zero-initialised)."""
        return self.norm2

    def forward(self, x: Tensor, h: Optional[Tensor],
                shortcut: bool = False) -> Tuple[Tensor, Tensor]:
        """Return the block output and the branch output (or the shortcut)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.norm1(conv_block_input(self.conv1, x, h)))
        out = self.norm2(self.conv2(out))
        return self._finish(out, identity, shortcut)


class RLABottleneck(_RLAResidualBlock):
    """Post-activation bottleneck whose first 1x1 conv also reads the hidden state.

    Args:
        inplanes (int): Input channels of x.
        planes (int): Base channels; the output has ``planes * 4``.
        rla_channel (int): Hidden channels k, concatenated to x.
        stride (int): Stride of the block. Default: 1.
        dilation (int): Dilation of the 3x3 conv. Default: 1.
        downsample (nn.Module, optional): Shortcut projection.
        style (str): 'pytorch' puts the stride on the 3x3 conv (the paper's),
            'caffe' on the first 1x1 conv.
        groups (int): Groups of the 3x3 conv (ResNeXt). Default: 1.
        base_width (int): Width per group (ResNeXt). Default: 64.
        conv_cfg (dict, optional): Conv config.
        norm_cfg (dict): Norm config. Default: BN.
        se (int, optional): SE reduction, None for no SE.
        eca_kernel (int, optional): ECA kernel size, None for no ECA.
        init_cfg (dict, optional): Initialization config.
    """
    expansion = 4

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 rla_channel: int,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample: Optional[nn.Module] = None,
                 style: str = 'pytorch',
                 groups: int = 1,
                 base_width: int = 64,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 se: Optional[int] = None,
                 eca_kernel: Optional[int] = None,
                 init_cfg=None):
        out_channels = planes * self.expansion
        super().__init__(out_channels, se, eca_kernel, init_cfg=init_cfg)
        width = int(planes * (base_width / 64.)) * groups
        stride1, stride2 = (1, stride) if style == 'pytorch' else (stride, 1)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, width, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, width, postfix=2)
        self.norm3_name, norm3 = build_norm_layer(
            norm_cfg, out_channels, postfix=3)
        self.conv1 = build_conv_layer(
            conv_cfg, inplanes + rla_channel, width, 1, stride=stride1,
            bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(
            conv_cfg, width, width, 3, stride=stride2, padding=dilation,
            dilation=dilation, groups=groups, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = build_conv_layer(
            conv_cfg, width, out_channels, 1, bias=False)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    @property
    def norm3(self) -> nn.Module:
        return getattr(self, self.norm3_name)

    @property
    def last_norm(self) -> nn.Module:
        """The norm that closes the residual branch (zero-initialised)."""
        return self.norm3

    def forward(self, x: Tensor, h: Optional[Tensor],
                shortcut: bool = False) -> Tuple[Tensor, Tensor]:
        """Return the block output and the branch output (or the shortcut)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.norm1(conv_block_input(self.conv1, x, h)))
        out = self.relu(self.norm2(self.conv2(out)))
        out = self.norm3(self.conv3(out))
        return self._finish(out, identity, shortcut)


@register_model()
class RLAResNet(RLABackbone):
    """ResNet with Recurrent Layer Aggregation (Zhao, Fang & Li, NeurIPS 2021).

    Each of the four stages is an :class:`RLAStage`: the blocks read the hidden
    state h (``rla_channel`` channels) through their first conv, and the stage
    updates h after every block with its shared 1x1 ``conv_out``, one norm per
    block, tanh and its shared 3x3 ``recurrent_conv``.

    For detection the outputs are the main-path features of ``out_indices``
    (256, 512, 1024, 2048 channels for depth >= 50); the hidden state is dropped.
    For classification set ``cat_hidden=True``: the last stage output becomes
    ``cat(x, relu(bn_hidden(h)))`` (2048 + k channels), the paper's classifier
    input. Without ``cat_hidden`` nothing reads the hidden state after the last
    block, so that update and its norm are not built, nor are the stages after
    the deepest of ``out_indices`` (see :class:`RLABackbone`): every parameter
    gets a gradient, and a classifier checkpoint loads with those keys reported
    as unexpected.

    Args:
        depth (int): 18, 34 (basic blocks) or 50, 101, 152 (bottlenecks).
        rla_channel (int): Hidden channels k. Default: 32.
        stem_channels (int): Stem output channels. Default: 64.
        base_channels (int): Channels of the first stage. Default: 64.
        strides (Sequence[int]): Stride of each stage. Default: (1, 2, 2, 2).
        dilations (Sequence[int]): Dilation of each stage. Default: (1, 1, 1, 1).
        out_indices (Sequence[int]): Stages to output, in [0, 3].
            Default: (0, 1, 2, 3).
        style (str): 'pytorch' (stride on the 3x3 conv, the paper's) or 'caffe'.
        deep_stem (bool): Three 3x3 convs instead of the 7x7 stem (ResNet-D).
        avg_down (bool): Average-pool then 1x1 conv in downsampling shortcuts
            (ResNet-D).
        groups (int): Groups of the 3x3 convs (ResNeXt). Default: 1.
        base_width (int): Width per group (ResNeXt). Default: 64.
        eca (bool | Sequence[int], optional): ECA after the last norm of every
            block; True uses the paper's kernel sizes (5, 5, 5, 7), a sequence
            gives one odd kernel size per stage. Default: None (off).
        se (bool | int, optional): SE with this reduction (True: 16) after the
            last norm of every block. Default: None (off).
        rla_source (str): 'output' feeds the block output x_t to the RLA update,
            as the authors' ResNet code (and so their published weights) does;
            'branch' feeds the residual branch output of Eq. 11.
            Default: 'output'.
        cat_hidden (bool): Concatenate relu(norm(h)) to the last stage output
            (classification). Default: False.
        zero_init_residual (bool): Zero-init the last norm of each residual
            branch, unless loading pretrained weights. Default: True.
        extra_channels (int): Widen every block's output by this many
            channels (its inner widths by ``extra_channels / expansion``):
            with ``rla_channel=0``, the "channel + k" baseline of the paper's
            Table 6 (a). Default: 0.
        **kwargs: ``frozen_stages``, ``in_channels``, ``conv_cfg``,
            ``norm_cfg``, ``norm_eval``, ``with_cp``, ``init_cfg``, the
            ablation options (``rla_add``, ``rla_act``, ``rla_cell``,
            ``rla_shared``, ``rla_exchange``) and ``hidden_act``,
            ``hidden_norm`` of :class:`RLABackbone`. ``rla_channel=0`` builds
            the plain ResNet.

    Example:
        >>> import torch
        >>> from rla_mm.models import RLAResNet
        >>> model = RLAResNet(depth=50).eval()
        >>> for out in model(torch.rand(1, 3, 64, 64)):
        ...     print(tuple(out.shape))
        (1, 256, 16, 16)
        (1, 512, 8, 8)
        (1, 1024, 4, 4)
        (1, 2048, 2, 2)
    """

    arch_settings = {
        18: (RLABasicBlock, (2, 2, 2, 2)),
        34: (RLABasicBlock, (3, 4, 6, 3)),
        50: (RLABottleneck, (3, 4, 6, 3)),
        101: (RLABottleneck, (3, 4, 23, 3)),
        152: (RLABottleneck, (3, 8, 36, 3)),
    }
    min_rla_channel = 0
    takes_rla_variants = True

    def __init__(self,
                 depth: int,
                 rla_channel: int = 32,
                 stem_channels: int = 64,
                 base_channels: int = 64,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 style: str = 'pytorch',
                 deep_stem: bool = False,
                 avg_down: bool = False,
                 groups: int = 1,
                 base_width: int = 64,
                 eca: Union[bool, Sequence[int], None] = None,
                 se: Union[bool, int, None] = None,
                 rla_source: str = 'output',
                 cat_hidden: bool = False,
                 zero_init_residual: bool = True,
                 extra_channels: int = 0,
                 **kwargs):
        if depth not in self.arch_settings:
            raise ValueError(f'invalid depth {depth!r} for RLAResNet, expected '
                             f'one of {tuple(self.arch_settings)}')
        self.depth = depth
        self.block, self.stage_blocks = self.arch_settings[depth]
        self.extra_planes = extra_planes(extra_channels, self.block.expansion)
        num_stages = len(self.stage_blocks)
        for name, values in (('strides', strides), ('dilations', dilations)):
            if len(values) != num_stages:
                raise ValueError(f'{name} must have {num_stages} entries, '
                                 f'got {tuple(values)!r}')
            for v in values:
                check_int(name, v, 1)
        self.stem_channels = check_int('stem_channels', stem_channels, 1)
        self.base_channels = check_int('base_channels', base_channels, 1)
        self.strides, self.dilations = tuple(strides), tuple(dilations)
        self.style = check_choice('style', style, ('pytorch', 'caffe'))
        self.deep_stem = deep_stem
        self.avg_down = avg_down
        self.groups = groups
        self.base_width = base_width
        self.eca_kernels = eca_kernel_sizes(eca, num_stages,
                                            DEFAULT_ECA_KERNELS)
        self.se_reduction = self._se_reduction(se)
        self.zero_init_residual = zero_init_residual
        super().__init__(num_stages, rla_channel, out_indices, cat_hidden,
                         rla_source=rla_source, **kwargs)

    @property
    def res_layers(self) -> List[str]:
        """Names of the stages (MMDetection's ResNet name for them)."""
        return self.stage_names

    @staticmethod
    def _se_reduction(se) -> Optional[int]:
        if se is None or se is False:
            return None
        if se is True:
            return DEFAULT_SE_REDUCTION
        return check_int('se (the SE reduction)', se, 1)

    def make_stem(self) -> Tuple[int, int]:
        """The 7x7 (or, with ``deep_stem``, 3x(3x3)) stem and the max-pool."""
        if self.deep_stem:
            half = self.stem_channels // 2
            layers = []
            for i, (cin, cout) in enumerate(
                    ((self.in_channels, half), (half, half),
                     (half, self.stem_channels))):
                layers += [
                    build_conv_layer(self.conv_cfg, cin, cout, 3,
                                     stride=2 if i == 0 else 1, padding=1,
                                     bias=False),
                    build_norm_layer(self.norm_cfg, cout)[1],
                    nn.ReLU(inplace=True)
                ]
            self.stem = nn.Sequential(*layers)
        else:
            self.conv1 = build_conv_layer(
                self.conv_cfg, self.in_channels, self.stem_channels, 7,
                stride=2, padding=3, bias=False)
            self.norm1_name, norm1 = build_norm_layer(
                self.norm_cfg, self.stem_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        return self.stem_channels, 4

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def stem_modules(self) -> List[nn.Module]:
        return [self.stem] if self.deep_stem else [self.conv1, self.norm1]

    def forward_stem(self, x: Tensor) -> Tensor:
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        return self.maxpool(x)

    def _make_downsample(self, inplanes: int, out_channels: int,
                         stride: int) -> Optional[nn.Module]:
        if stride == 1 and inplanes == out_channels:
            return None
        layers = []
        conv_stride = stride
        if self.avg_down and stride != 1:
            conv_stride = 1
            layers.append(
                nn.AvgPool2d(kernel_size=stride, stride=stride,
                             ceil_mode=True, count_include_pad=False))
        layers += [
            build_conv_layer(self.conv_cfg, inplanes, out_channels, 1,
                             stride=conv_stride, bias=False),
            build_norm_layer(self.norm_cfg, out_channels)[1]
        ]
        return nn.Sequential(*layers)

    def make_stage(self, index: int, in_channels: int) -> StageSpec:
        """``stage_blocks[index]`` blocks; the first one strides and projects."""
        planes = self.base_channels * 2**index + self.extra_planes
        out_channels = planes * self.block.expansion
        stride = self.strides[index]
        blocks = []
        for i in range(self.stage_blocks[index]):
            blocks.append(
                self.block(
                    inplanes=in_channels if i == 0 else out_channels,
                    planes=planes,
                    rla_channel=self.block_rla_channel,
                    stride=stride if i == 0 else 1,
                    dilation=self.dilations[index],
                    downsample=self._make_downsample(
                        in_channels, out_channels, stride) if i == 0 else None,
                    style=self.style,
                    groups=self.groups,
                    base_width=self.base_width,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg,
                    se=self.se_reduction,
                    eca_kernel=self.eca_kernels[index]))
        return StageSpec(blocks, out_channels, stride)

    def make_close(self, in_channels: int) -> Tuple[int, str]:
        """Nothing but ``bn_hidden`` with ``cat_hidden``."""
        if self.cat_hidden:
            in_channels += self.add_hidden_norm()
        return in_channels, self.stage_names[-1]

    def forward_close(self, x: Tensor, h: Optional[Tensor]) -> Tensor:
        return self.append_hidden(x, h)

    def init_weights(self) -> None:
        super().init_weights()
        pretrained = isinstance(self.init_cfg, dict) \
            and self.init_cfg.get('type') == 'Pretrained'
        if self.zero_init_residual and not pretrained:
            for name in self.stage_names:
                for block in getattr(self, name).blocks:
                    constant_init(block.last_norm, 0)


@register_model()
class RLAResNetV1d(RLAResNet):
    """RLA-ResNet-D: deep 3x(3x3) stem and average-pool shortcuts (paper's † models).

    Args:
        **kwargs: Arguments of :class:`RLAResNet`.
    """

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=True, **kwargs)
