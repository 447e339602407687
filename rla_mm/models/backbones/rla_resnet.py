"""RLA-ResNet backbones (paper Sec. 3.3, Table 3) for MMDetection and
MMPretrain."""
import warnings
from abc import abstractmethod
from typing import List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer, build_plugin_layer
from mmcv.cnn.bricks import DropPath
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.model.weight_init import constant_init
from torch import Tensor

from ...checks import check_bool, check_choice, check_int, check_type
from ...registry import register_model
from ..layers import ECALayer, SELayer, conv_block_input
from .base import RLABackbone, StageSpec, eca_kernel_sizes, extra_planes
from .library_defaults import library_default
from .plain_init import adapt_plain_resnet

DEFAULT_ECA_KERNELS = (5, 5, 5, 7)
DEFAULT_SE_REDUCTION = 16

PLUGIN_POSITIONS = ('after_conv1', 'after_conv2', 'after_conv3')


def _norm(index: int) -> property:
    """The ``norm<index>`` property of MMDetection's blocks: the norm layer
    registered under ``norm<index>_name`` ('bn1', 'gn1', ...)."""
    return property(
        lambda self: getattr(self, getattr(self, f'norm{index}_name')),
        doc=f'The norm after conv{index}.')


class _RLAResidualBlock(BaseModule):
    """The RLA residual blocks' shared arguments and parts: attention, plugins,
    stochastic depth and the residual sum. A block builds its branch in
    :meth:`build_branch` from the arguments, kept as attributes as
    MMDetection's blocks keep them.

    Args:
        inplanes (int): Input channels of x.
        planes (int): Base channels; the output has ``planes * expansion``.
        rla_channel (int): Hidden channels k, concatenated to x at the first
            conv.
        stride (int): Stride of the block. Default: 1.
        dilation (int): Dilation of the 3x3 convs. Default: 1.
        downsample (nn.Module, optional): Shortcut projection.
        style (str): 'pytorch' puts a bottleneck's stride on its 3x3 conv (the
            paper's), 'caffe' on its first 1x1 conv. Default: 'pytorch'.
        groups (int): Groups of the 3x3 conv (ResNeXt bottlenecks). Default: 1.
        base_width (int): Width per group of the first stage (ResNeXt); a
            bottleneck's 3x3 conv has ``planes * base_width / 64 * groups``
            channels, or ``planes`` with one group (MMDetection's and
            MMPretrain's rule). Default: 64.
        conv_cfg (dict, optional): Conv config.
        norm_cfg (dict): Norm config. Default: BN.
        se (int, optional): SE reduction, None for no SE.
        eca_kernel (int, optional): ECA kernel size, None for no ECA.
        dcn (dict, optional): Config of a deformable 3x3 conv2 of a bottleneck
            (MMDetection's ``dcn``, e.g. ``dict(type='DCN', deform_groups=1,
            fallback_on_stride=False)``). The hidden state joins at conv1, so
            it is unaffected. Default: None.
        plugins (list[dict], optional): MMDetection's bottleneck plugins, each
            ``dict(cfg=..., position='after_conv1' | 'after_conv2' |
            'after_conv3')``. Default: None.
        drop_path_rate (float): Stochastic depth of the residual branch
            (MMPretrain's). Default: 0.
        expansion (int, optional): Output channels per plane (MMPretrain's
            ``expansion``). Default: None, the block's (basic 1, bottleneck 4).
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
                 dcn: Optional[dict] = None,
                 plugins: Optional[Sequence[dict]] = None,
                 drop_path_rate: float = 0.,
                 expansion: Optional[int] = None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.inplanes, self.planes, self.rla_channel = \
            inplanes, planes, rla_channel
        self.stride, self.dilation, self.style = stride, dilation, style
        self.groups, self.base_width = groups, base_width
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        self.dcn, self.plugins = dcn, plugins or ()
        if expansion is not None:
            self.expansion = expansion
        out_channels = planes * self.expansion
        self.se = SELayer(out_channels, se) if se else None
        self.eca = ECALayer(eca_kernel) if eca_kernel else None
        self.drop_path = DropPath(drop_path_rate) \
            if drop_path_rate > 0 else None
        self.build_branch(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.build_plugins(out_channels)

    @abstractmethod
    def build_branch(self, out_channels: int) -> None:
        """Build the convs and norms of the residual branch."""

    def build_plugins(self, out_channels: int) -> None:
        """Build the block's plugins (after the shortcut, as MMDetection
        registers them); blocks without plugin positions build none."""

    def add_norm(self, index: int, channels: int) -> None:
        """Register the norm ``norm<index>`` on ``channels``."""
        name, norm = build_norm_layer(self.norm_cfg, channels, postfix=index)
        setattr(self, f'norm{index}_name', name)
        self.add_module(name, norm)

    def make_plugins(self, channels: int, position: str) -> List[str]:
        """Build the plugins of ``position`` (MMDetection's block plugins:
        ``dict(cfg=..., position=...)``) on ``channels``; return their
        names."""
        names = []
        for plugin in self.plugins:
            if plugin['position'] != position:
                continue
            cfg = dict(plugin['cfg'])
            name, layer = build_plugin_layer(
                cfg, in_channels=channels, postfix=cfg.pop('postfix', ''))
            if hasattr(self, name):
                raise ValueError(f'two plugins of a block are named {name!r}; '
                                 f'give each its own postfix')
            self.add_module(name, layer)
            names.append(name)
        return names

    def forward_plugins(self, x: Tensor, names: Sequence[str]) -> Tensor:
        for name in names:
            x = getattr(self, name)(x)
        return x

    def _finish(self, out: Tensor, identity: Tensor,
                shortcut: bool) -> Tuple[Tensor, Tensor]:
        """The block output and the branch output y (or, with ``shortcut``,
        the shortcut)."""
        if self.se is not None:
            out = self.se(out)
        if self.eca is not None:
            out = self.eca(out)
        if self.drop_path is not None:
            out = self.drop_path(out)
        # ReLU in place on the fresh sum; ``out`` (the branch output y) stays
        return (out + identity).relu_(), identity if shortcut else out


class RLABasicBlock(_RLAResidualBlock):
    """Post-activation basic block whose first conv also reads the hidden
    state.

    Takes the arguments of :class:`_RLAResidualBlock`; as in MMDetection's
    BasicBlock, ``groups`` must be 1, ``base_width`` 64, ``expansion`` 1 (or
    None), and ``dcn`` and ``plugins`` none (``style`` has no effect).
    """
    expansion = 1
    norm1, norm2 = _norm(1), _norm(2)
    last_norm = norm2  # closes the residual branch (zero-initialised)

    def build_branch(self, out_channels: int) -> None:
        """conv1 (3x3, stride, on [x, h]) and conv2 (3x3), each with its
        norm."""
        if self.groups != 1 or self.base_width != 64:
            raise ValueError('RLABasicBlock supports only groups=1 and '
                             f'base_width=64, got groups={self.groups}, '
                             f'base_width={self.base_width}')
        for name, value in (('dcn', self.dcn), ('plugins', self.plugins)):
            if value:
                raise ValueError(
                    f'{name} needs bottleneck blocks (depth 50, 101 or 152); '
                    f'basic blocks (depth 18, 34) take none, as in '
                    f"MMDetection's ResNet, got {name}={value!r}")
        if self.expansion != 1:
            raise ValueError(f'basic blocks have expansion 1, got '
                             f'expansion={self.expansion!r}')
        self.conv1 = build_conv_layer(
            self.conv_cfg,
            self.inplanes + self.rla_channel,
            self.planes,
            3,
            stride=self.stride,
            padding=self.dilation,
            dilation=self.dilation,
            bias=False)
        self.add_norm(1, self.planes)
        self.conv2 = build_conv_layer(
            self.conv_cfg, self.planes, self.planes, 3, padding=1, bias=False)
        self.add_norm(2, self.planes)

    def forward(self,
                x: Tensor,
                h: Optional[Tensor],
                shortcut: bool = False) -> Tuple[Tensor, Tensor]:
        """Return the block output and the branch output (or the shortcut)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.norm1(conv_block_input(self.conv1, x, h)))
        out = self.norm2(self.conv2(out))
        return self._finish(out, identity, shortcut)


class RLABottleneck(_RLAResidualBlock):
    """Post-activation bottleneck whose first 1x1 conv also reads the hidden
    state; takes the arguments of :class:`_RLAResidualBlock` (``dcn`` and
    ``plugins`` as MMDetection's Bottleneck does)."""
    expansion = 4
    norm1, norm2, norm3 = _norm(1), _norm(2), _norm(3)
    last_norm = norm3  # closes the residual branch (zero-initialised)

    @property
    def width(self) -> int:
        """Channels of conv1 and conv2: ``planes``, or with ResNeXt's groups
        ``planes * base_width / 64 * groups``."""
        if self.groups == 1:
            return self.planes
        return int(self.planes * (self.base_width / 64.)) * self.groups

    def build_branch(self, out_channels: int) -> None:
        """conv1 (1x1 on [x, h]), conv2 (3x3, grouped, maybe deformable) and
        conv3 (1x1), each with its norm; the stride per ``style``."""
        width = self.width
        stride1, stride2 = (1, self.stride) if self.style == 'pytorch' \
            else (self.stride, 1)
        self.conv1 = build_conv_layer(
            self.conv_cfg,
            self.inplanes + self.rla_channel,
            width,
            1,
            stride=stride1,
            bias=False)
        self.add_norm(1, width)
        # MMDetection's rule: fallback_on_stride=True keeps a plain conv2
        dcn = dict(self.dcn) if self.dcn else None
        self.with_dcn = dcn is not None \
            and not dcn.pop('fallback_on_stride', False)
        if self.with_dcn and self.conv_cfg is not None:
            raise ValueError(f'conv_cfg must be None with dcn (conv2 is the '
                             f'deformable conv), got '
                             f'conv_cfg={self.conv_cfg!r}')
        self.conv2 = build_conv_layer(
            dcn if self.with_dcn else self.conv_cfg,
            width,
            width,
            3,
            stride=stride2,
            padding=self.dilation,
            dilation=self.dilation,
            groups=self.groups,
            bias=False)
        self.add_norm(2, width)
        self.conv3 = build_conv_layer(
            self.conv_cfg, width, out_channels, 1, bias=False)
        self.add_norm(3, out_channels)

    def build_plugins(self, out_channels: int) -> None:
        self.after_conv1_plugin_names = self.make_plugins(
            self.width, 'after_conv1')
        self.after_conv2_plugin_names = self.make_plugins(
            self.width, 'after_conv2')
        self.after_conv3_plugin_names = self.make_plugins(
            out_channels, 'after_conv3')

    def forward(self,
                x: Tensor,
                h: Optional[Tensor],
                shortcut: bool = False) -> Tuple[Tensor, Tensor]:
        """Return the block output and the branch output (or the shortcut)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.norm1(conv_block_input(self.conv1, x, h)))
        out = self.forward_plugins(out, self.after_conv1_plugin_names)
        out = self.relu(self.norm2(self.conv2(out)))
        out = self.forward_plugins(out, self.after_conv2_plugin_names)
        out = self.norm3(self.conv3(out))
        out = self.forward_plugins(out, self.after_conv3_plugin_names)
        return self._finish(out, identity, shortcut)


@register_model()
class RLAResNet(RLABackbone):
    """ResNet with Recurrent Layer Aggregation (Zhao, Fang & Li, NeurIPS 2021).

    Each stage is an :class:`RLAStage`: the blocks read the hidden state h
    (``rla_channel`` channels) through their first conv, and the stage updates
    h after every block with its shared 1x1 ``conv_out``, one norm per block,
    tanh and its shared 3x3 ``recurrent_conv`` (paper Eq. 11).

    A drop-in for MMDetection's and MMPretrain's ``ResNet``: it takes every
    argument of both, with the same name and meaning, so changing a config's
    ``type='ResNet'`` to ``type='RLAResNet'`` is the whole change. Where the
    two libraries' defaults differ (``out_indices``, ``norm_eval``,
    ``stem_channels``), the model takes those of the library whose default
    scope builds it (see :mod:`.library_defaults`). A plain ResNet checkpoint
    (``init_cfg``, ``load_from``) initialises the main path exactly, with the
    hidden-state input channels at zero (see :mod:`.plain_init`).

    For detection the outputs are the main-path features of ``out_indices``
    (256, 512, 1024, 2048 channels for depth >= 50); the hidden state is
    dropped. For classification set ``cat_hidden=True``: the last stage output
    becomes ``cat(x, relu(bn_hidden(h)))`` (2048 + k channels), the paper's
    classifier input (Sec. 3.3). Without ``cat_hidden`` nothing reads the
    hidden state after the last block, so that update and its norm are not
    built, nor are the stages after the deepest of ``out_indices`` (see
    :class:`RLABackbone`): every parameter gets a gradient, and a classifier
    checkpoint loads with those keys reported as unexpected.

    Args:
        depth (int): 18, 34 (basic blocks) or 50, 101, 152 (bottlenecks).
        in_channels (int): Input image channels. Default: 3.
        stem_channels (int, optional): Stem output channels. Default: None,
            the building library's (MMDetection: ``base_channels``; MMPretrain
            and rla_mm: 64).
        base_channels (int): Channels of the first stage. Default: 64.
        num_stages (int): Stages to build, 1 to 4 (RLA runs over those).
            Default: 4.
        strides (Sequence[int]): Stride of each stage. Default: (1, 2, 2, 2).
        dilations (Sequence[int]): Dilation of each stage. Default:
            (1, 1, 1, 1).
        out_indices (Sequence[int], optional): Stages to output, in
            ``[0, num_stages - 1]``. Default: None, the building library's
            (MMDetection and rla_mm: all four; MMPretrain: ``(3, )``).
        style (str): 'pytorch' (stride on the 3x3 conv, the paper's) or
            'caffe'.
        deep_stem (bool): Three 3x3 convs instead of the 7x7 stem (ResNet-D).
        avg_down (bool): Average-pool then 1x1 conv in downsampling shortcuts
            (ResNet-D).
        frozen_stages (int): Freeze the stem and this many stages, RLA parts
            included; -1: nothing. Default: -1.
        conv_cfg (dict, optional): Config of every conv. Default: None.
        norm_cfg (dict): Config of every norm. Default:
            ``dict(type='BN', requires_grad=True)``.
        norm_eval (bool, optional): Keep the BNs in eval mode while training.
            Default: None, the building library's (MMDetection: True;
            MMPretrain and rla_mm: False). RLA norms that start fresh from a
            plain checkpoint train and update their statistics regardless,
            unless their stage is frozen (see :meth:`train`).
        dcn (dict, optional): Deformable conv2 in the bottlenecks of the
            stages ``stage_with_dcn`` marks (MMDetection's). Default: None.
        stage_with_dcn (Sequence[bool]): One flag per stage.
            Default: (False, False, False, False).
        plugins (list[dict], optional): MMDetection's block plugins: each
            ``dict(cfg=..., position='after_conv1' | 'after_conv2' |
            'after_conv3', stages=(bool, ...))`` (``stages`` optional, one flag
            per stage). Default: None.
        with_cp (bool): Activation checkpointing per block. Default: False.
        zero_init_residual (bool): Zero-init the last norm of each residual
            branch, unless loading pretrained weights. Default: True.
        pretrained (str, optional): Deprecated (as in MMDetection): a
            checkpoint path, turned into ``init_cfg=dict(type='Pretrained',
            checkpoint=pretrained)`` with a warning. Default: None.
        init_cfg (dict | list[dict], optional): Initialization config.
            Default: Kaiming convs and unit norms.
        expansion (int, optional): Output channels per plane of the
            bottlenecks (MMPretrain's). Default: None (4; 1 for basic blocks).
        drop_path_rate (float): Stochastic depth of the residual branches,
            rising linearly over the blocks to this rate (MMPretrain's); the
            RLA update reads the dropped branch. Default: 0.
        rla_channel (int): Hidden channels k (0: the plain ResNet).
            Default: 32.
        groups (int): Groups of the 3x3 convs (ResNeXt). Default: 1.
        base_width (int): Width per group (ResNeXt). Default: 64.
        eca (bool | Sequence[int], optional): ECA after the last norm of every
            block; True uses the paper's kernel sizes (5, 5, 5, 7), a sequence
            gives one odd kernel size per stage. Default: None (off).
        se (bool | int, optional): SE with this reduction (True: 16) after the
            last norm of every block. Default: None (off).
        rla_source (str): 'output' feeds the block output x_t to the RLA
            update, as the authors' ResNet code
            (and so their published weights) does; 'branch' feeds the residual
            branch output of Eq. 11. Default: 'output'.
        cat_hidden (bool): Concatenate relu(norm(h)) to the last stage output
            (classification). Default: False.
        extra_channels (int): Widen every block's output by this many
            channels (its inner widths by ``extra_channels / expansion``):
            with ``rla_channel=0``, the "channel + k" baseline of the paper's
            Table 6 (a). Default: 0.
        **rla_options: The ablation options of the RLA update and of the
            classifier's hidden state (``rla_add``, ``rla_act``,
            ``rla_cell``, ``rla_shared``, ``rla_exchange``, ``hidden_act``,
            ``hidden_norm``), see :class:`RLABackbone`.

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
                 in_channels: int = 3,
                 stem_channels: Optional[int] = None,
                 base_channels: int = 64,
                 num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Optional[Sequence[int]] = None,
                 style: str = 'pytorch',
                 deep_stem: bool = False,
                 avg_down: bool = False,
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: Optional[bool] = None,
                 dcn: Optional[dict] = None,
                 stage_with_dcn: Sequence[bool] = (False, False, False, False),
                 plugins: Optional[Sequence[dict]] = None,
                 with_cp: bool = False,
                 zero_init_residual: bool = True,
                 pretrained: Optional[str] = None,
                 init_cfg=None,
                 expansion: Optional[int] = None,
                 drop_path_rate: float = 0.,
                 rla_channel: int = 32,
                 groups: int = 1,
                 base_width: int = 64,
                 eca: Union[bool, Sequence[int], None] = None,
                 se: Union[bool, int, None] = None,
                 rla_source: str = 'output',
                 cat_hidden: bool = False,
                 extra_channels: int = 0,
                 **rla_options):
        if depth not in self.arch_settings:
            raise ValueError(f'invalid depth {depth!r} for '
                             f'{type(self).__name__}, expected one of '
                             f'{tuple(self.arch_settings)}')
        self.depth = depth
        self.block, stage_blocks = self.arch_settings[depth]
        num_stages = check_int('num_stages', num_stages, 1, len(stage_blocks))
        self.stage_blocks = stage_blocks[:num_stages]
        self.extra_planes = extra_planes(extra_channels, self.block.expansion)
        for name, values in (('strides', strides), ('dilations', dilations)):
            if len(values) != num_stages:
                raise ValueError(f'{name} must have num_stages = {num_stages} '
                                 f'entries, got {tuple(values)!r}')
            for v in values:
                check_int(name, v, 1)
        self.base_channels = check_int('base_channels', base_channels, 1)
        stem_channels = library_default('stem_channels', stem_channels)
        self.stem_channels = check_int(
            'stem_channels',
            base_channels if stem_channels is None else stem_channels, 1)
        self.strides, self.dilations = tuple(strides), tuple(dilations)
        self.style = check_choice('style', style, ('pytorch', 'caffe'))
        self.deep_stem = check_bool('deep_stem', deep_stem)
        self.avg_down = check_bool('avg_down', avg_down)
        self.groups = check_int('groups', groups, 1)
        self.base_width = check_int('base_width', base_width, 1)
        self.eca_kernels = eca_kernel_sizes(eca, num_stages,
                                            DEFAULT_ECA_KERNELS)
        self.se_reduction = self._se_reduction(se)
        self.zero_init_residual = check_bool('zero_init_residual',
                                             zero_init_residual)
        self.dcn, self.stage_with_dcn = self._check_dcn(
            dcn, stage_with_dcn, num_stages)
        self.plugins = self._check_plugins(plugins, num_stages)
        self.expansion = self._check_expansion(expansion)
        self.drop_path_rates = self._drop_path_rates(drop_path_rate)
        init_cfg = self._init_cfg_of(pretrained, init_cfg)
        self.fresh_rla_norms = False
        super().__init__(
            num_stages,
            rla_channel,
            library_default('out_indices', out_indices),
            cat_hidden,
            frozen_stages=frozen_stages,
            in_channels=in_channels,
            rla_source=rla_source,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            norm_eval=library_default('norm_eval', norm_eval),
            with_cp=with_cp,
            init_cfg=init_cfg,
            **rla_options)
        self._register_load_state_dict_pre_hook(self._adapt_plain_checkpoint)

    # -- argument checks ------------------------------------------------------
    @staticmethod
    def _se_reduction(se) -> Optional[int]:
        if se is None or se is False:
            return None
        if se is True:
            return DEFAULT_SE_REDUCTION
        return check_int('se (the SE reduction)', se, 1)

    def _check_dcn(self, dcn, stage_with_dcn,
                   num_stages: int) -> Tuple[Optional[dict], Tuple[bool, ...]]:
        check_type('dcn', dcn, (dict, type(None)))
        flags = tuple(stage_with_dcn)
        if dcn is not None:
            if len(flags) != num_stages:
                raise ValueError(
                    f'stage_with_dcn must have num_stages = {num_stages} '
                    f'entries, got {flags!r}')
            for flag in flags:
                check_bool('stage_with_dcn entry', flag)
        return dcn, flags

    @staticmethod
    def _check_plugins(plugins, num_stages: int) -> Tuple[dict, ...]:
        if plugins is None:
            return ()
        if isinstance(plugins, dict) or not isinstance(plugins, (list, tuple)):
            raise TypeError(f'plugins must be a list of dicts, got '
                            f'{plugins!r}')
        for plugin in plugins:
            if not isinstance(plugin, dict) or 'cfg' not in plugin \
                    or 'position' not in plugin:
                raise ValueError(
                    f'each plugin must be a dict with cfg and position (and '
                    f'optionally stages), got {plugin!r}')
            unknown = set(plugin) - {'cfg', 'position', 'stages'}
            if unknown:
                raise ValueError(f'a plugin takes cfg, position and stages, '
                                 f'got {sorted(unknown)!r} in {plugin!r}')
            check_choice('plugin position', plugin['position'],
                         PLUGIN_POSITIONS)
            stages = plugin.get('stages')
            if stages is not None and len(stages) != num_stages:
                raise ValueError(
                    f'plugin stages must have num_stages = {num_stages} '
                    f'entries, got {tuple(stages)!r}')
        return tuple(plugins)

    def _check_expansion(self, expansion) -> int:
        if expansion is None:
            return self.block.expansion
        check_int('expansion', expansion, 1)
        if self.block is RLABasicBlock and expansion != 1:
            raise ValueError(f'depth {self.depth} has basic blocks, whose '
                             f'expansion is 1, got expansion={expansion!r}')
        return expansion

    def _drop_path_rates(self, rate) -> List[float]:
        """MMPretrain's rule: rates rise linearly from 0 over all blocks."""
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) \
                or not 0 <= rate < 1:
            raise ValueError(f'drop_path_rate must be a number in [0, 1), got '
                             f'{rate!r}')
        total = sum(self.stage_blocks)
        if total == 1:
            return [0.]
        return [rate * i / (total - 1) for i in range(total)]

    def _init_cfg_of(self, pretrained, init_cfg):
        """MMDetection's deprecated ``pretrained``: a path becomes a
        ``Pretrained`` init_cfg, with a warning."""
        if pretrained is None:
            return init_cfg
        if not isinstance(pretrained, str):
            raise TypeError(f'pretrained must be a str or None, got '
                            f'{pretrained!r}')
        if init_cfg is not None:
            raise ValueError(
                f'init_cfg and pretrained cannot be set at the same time, got '
                f'init_cfg={init_cfg!r} and pretrained={pretrained!r}')
        warnings.warn('DeprecationWarning: pretrained is deprecated, please '
                      'use "init_cfg" instead')
        return dict(type='Pretrained', checkpoint=pretrained)

    @property
    def res_layers(self) -> List[str]:
        """Names of the stages (MMDetection's ResNet name for them)."""
        return self.stage_names

    # -- building -------------------------------------------------------------
    def make_stem(self) -> Tuple[int, int]:
        """The 7x7 (or, with ``deep_stem``, 3x(3x3)) stem and the max-pool."""
        if self.deep_stem:
            half = self.stem_channels // 2
            layers = []
            for i, (cin, cout) in enumerate(
                ((self.in_channels, half), (half, half),
                 (half, self.stem_channels))):
                layers += [
                    build_conv_layer(
                        self.conv_cfg,
                        cin,
                        cout,
                        3,
                        stride=2 if i == 0 else 1,
                        padding=1,
                        bias=False),
                    build_norm_layer(self.norm_cfg, cout)[1],
                    nn.ReLU(inplace=True)
                ]
            self.stem = nn.Sequential(*layers)
        else:
            self.conv1 = build_conv_layer(
                self.conv_cfg,
                self.in_channels,
                self.stem_channels,
                7,
                stride=2,
                padding=3,
                bias=False)
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
                nn.AvgPool2d(
                    kernel_size=stride,
                    stride=stride,
                    ceil_mode=True,
                    count_include_pad=False))
        layers += [
            build_conv_layer(
                self.conv_cfg,
                inplanes,
                out_channels,
                1,
                stride=conv_stride,
                bias=False),
            build_norm_layer(self.norm_cfg, out_channels)[1]
        ]
        return nn.Sequential(*layers)

    def make_stage(self, index: int, in_channels: int) -> StageSpec:
        """``stage_blocks[index]`` blocks; the first one strides and
        projects."""
        planes = self.base_channels * 2**index + self.extra_planes
        out_channels = planes * self.expansion
        stride = self.strides[index]
        first = sum(self.stage_blocks[:index])
        plugins = [
            p for p in self.plugins
            if p.get('stages') is None or p['stages'][index]
        ]
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
                    eca_kernel=self.eca_kernels[index],
                    dcn=self.dcn if self.stage_with_dcn[index] else None,
                    plugins=plugins or None,
                    drop_path_rate=self.drop_path_rates[first + i],
                    expansion=self.expansion))
        return StageSpec(blocks, out_channels, stride)

    def make_close(self, in_channels: int) -> Tuple[int, str]:
        """Nothing but ``bn_hidden`` with ``cat_hidden``."""
        if self.cat_hidden:
            in_channels += self.add_hidden_norm()
        return in_channels, self.stage_names[-1]

    def forward_close(self, x: Tensor, h: Optional[Tensor]) -> Tensor:
        return self.append_hidden(x, h)

    # -- weights --------------------------------------------------------------
    def init_weights(self) -> None:
        super().init_weights()
        pretrained = isinstance(self.init_cfg, dict) \
            and self.init_cfg.get('type') == 'Pretrained'
        if self.zero_init_residual and not pretrained:
            for name in self.stage_names:
                for block in getattr(self, name).blocks:
                    constant_init(block.last_norm, 0)

    def _adapt_plain_checkpoint(self, state_dict, prefix, *args) -> None:
        """Load-state-dict pre-hook: a plain ResNet checkpoint (``init_cfg``,
        ``load_from``, ``load_state_dict``) initialises the main path, the
        RLA parts it lacks start fresh (see :mod:`.plain_init`)."""
        done = adapt_plain_resnet(self, state_dict, prefix)
        if done is None:
            return
        print_log(done.message(type(self).__name__), logger='current')
        self.fresh_rla_norms = True
        self.fresh_norms = self._fresh_norms(done)
        for norm in self.fresh_norms:
            for param in norm.parameters():
                param.requires_grad = True
        self._freeze_stages()

    def _fresh_norms(self, done) -> List[nn.Module]:
        norms = [n for s in done.fresh_stages for n in getattr(self, s).norms]
        if done.fresh_hidden_norm:
            norms.append(getattr(self, self.hidden_norm_name))
        return norms

    def train(self, mode: bool = True) -> 'RLAResNet':
        """As :meth:`RLABackbone.train`; RLA norms that started fresh from a
        plain checkpoint (no statistics to keep) stay in train mode under
        ``norm_eval``, unless their stage is frozen."""
        super().train(mode)
        if mode and self.norm_eval and self.fresh_rla_norms:
            frozen = {
                id(m)
                for f in self.frozen_modules()
                for m in f.modules()
            }
            for norm in self.fresh_norms:
                if id(norm) not in frozen:
                    norm.train(True)
        return self


@register_model()
class RLAResNetV1c(RLAResNet):
    """RLA twin of MMPretrain's ResNetV1c: the deep 3x(3x3) stem.

    Args:
        **kwargs: Arguments of :class:`RLAResNet`.
    """

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=False, **kwargs)


@register_model()
class RLAResNetV1d(RLAResNet):
    """RLA-ResNet-D: deep 3x(3x3) stem and average-pool shortcuts (paper's †
    models; the RLA twin of MMDetection's and MMPretrain's ResNetV1d).

    Args:
        **kwargs: Arguments of :class:`RLAResNet`.
    """

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=True, **kwargs)


def _resnext_width(cls_name: str, groups, base_width, width_per_group):
    """ResNeXt's groups and width per group; MMDetection says ``base_width``,
    MMPretrain ``width_per_group``: either, or both when they agree."""
    if base_width is not None and width_per_group is not None \
            and base_width != width_per_group:
        raise ValueError(
            f'{cls_name} got base_width={base_width!r} and '
            f'width_per_group={width_per_group!r}, two names of one width '
            f'(MMDetection\'s and MMPretrain\'s); give one')
    width = base_width if base_width is not None else width_per_group
    return (library_default('groups',
                            groups), library_default('width_per_group', width))


@register_model()
class RLAResNeXt(RLAResNet):
    """RLA twin of MMDetection's and MMPretrain's ResNeXt (depth 50, 101, 152).

    Args:
        groups (int, optional): Groups of the 3x3 convs. Default: None, the
            building library's (MMDetection: 1; MMPretrain and rla_mm: 32).
        base_width (int, optional): Width per group (MMDetection's name).
        width_per_group (int, optional): The same (MMPretrain's name); give
            one of the two. Default: 4.
        **kwargs: Arguments of :class:`RLAResNet`.
    """
    arch_settings = {d: RLAResNet.arch_settings[d] for d in (50, 101, 152)}

    def __init__(self,
                 groups: Optional[int] = None,
                 base_width: Optional[int] = None,
                 width_per_group: Optional[int] = None,
                 **kwargs):
        groups, width = _resnext_width(
            type(self).__name__, groups, base_width, width_per_group)
        super().__init__(groups=groups, base_width=width, **kwargs)


@register_model()
class RLASEResNet(RLAResNet):
    """RLA twin of MMPretrain's SEResNet (depth 50, 101, 152): SE after the
    last norm of every bottleneck, before the residual sum.

    Args:
        se_ratio (int): Reduction of the SE gate. Default: 16.
        **kwargs: Arguments of :class:`RLAResNet`.
    """
    arch_settings = {d: RLAResNet.arch_settings[d] for d in (50, 101, 152)}

    def __init__(self, se_ratio: int = 16, **kwargs):
        super().__init__(se=check_int('se_ratio', se_ratio, 1), **kwargs)


@register_model()
class RLASEResNeXt(RLAResNeXt):
    """RLA twin of MMPretrain's SEResNeXt (depth 50, 101, 152).

    Args:
        se_ratio (int): Reduction of the SE gate. Default: 16.
        **kwargs: Arguments of :class:`RLAResNeXt`.
    """

    def __init__(self, se_ratio: int = 16, **kwargs):
        super().__init__(se=check_int('se_ratio', se_ratio, 1), **kwargs)
