"""RLA-ResNet (paper Sec. 3.3, Table 3): its blocks, and the RLA twins of the
ResNet family of MMDetection, MMPretrain and MMSegmentation."""
import warnings
from abc import abstractmethod
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer, build_plugin_layer
from mmcv.cnn.bricks import DropPath
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.model.weight_init import constant_init
from torch import Tensor

from ...checks import (TypeAssertionError, ValueAssertionError, ValueKeyError,
                       check_bool, check_choice, check_int, check_type)
from ...registry import register_model
from ..layers import ECALayer, SELayer, conv_block_input
from .base import RLABackbone, StageSpec, eca_kernel_sizes, extra_planes
from .library_defaults import library_default
from .plain_init import adapt_plain_resnet

#: ECA kernel sizes per stage of the authors' RLA-ECA-ResNets.
DEFAULT_ECA_KERNELS = (5, 5, 5, 7)
DEFAULT_SE_REDUCTION = 16
PLUGIN_POSITIONS = ('after_conv1', 'after_conv2', 'after_conv3')
#: The classification form of the RLA ResNets (the ImageNet configs and the
#: authors' classifiers): the last stage, with h joined (paper Fig. 2 (a)).
CLASSIFIER_FORM = dict(out_indices=(3, ), cat_hidden=True)


def classifier_form(**kwargs) -> dict:
    """``RLAResNet`` keyword arguments of the classification form, e.g.
    ``RLAResNet(**classifier_form(depth=50))``; giving ``out_indices`` or
    ``cat_hidden`` here raises ``TypeError``."""
    fixed = sorted(set(kwargs) & set(CLASSIFIER_FORM))
    if fixed:
        raise TypeError(
            f'classifier_form() sets {fixed} itself '
            f'({CLASSIFIER_FORM}); build the backbone directly for '
            f'other outputs, got {[kwargs[k] for k in fixed]}')
    return dict(CLASSIFIER_FORM, **kwargs)


def _norm(index: int) -> property:
    """MMDetection's ``norm<index>`` property: the norm registered under
    ``norm<index>_name`` ('bn1', 'gn1', ...)."""
    return property(
        lambda self: getattr(self, getattr(self, f'norm{index}_name')),
        doc=f'The norm after conv{index}.')


class _RLAResidualBlock(BaseModule):
    """What the RLA residual blocks share: arguments kept as attributes (as
    MMDetection's blocks keep them), attention, plugins, stochastic depth and
    the residual sum.

    ``forward(x, h=None, taps=None)`` returns the block output; the branch
    output y_t and the shortcut go into ``taps`` for the RLA update (see
    :class:`RLAStage`). ``h=None`` is a zero hidden state.

    Args:
        inplanes (int): Input channels of x.
        planes (int): Base channels; the output has ``planes * expansion``.
        rla_channel (int): Hidden channels k, read with x by the first conv.
        stride (int): Stride of the block. Default: 1.
        dilation (int): Dilation of the 3x3 conv(s). Default: 1.
        downsample (nn.Module, optional): Shortcut projection.
        style (str): 'pytorch' (a bottleneck strides on its 3x3 conv) or
            'caffe' (on its first 1x1). Default: 'pytorch'.
        with_cp (bool): The stage runs the block and its RLA update under
            activation checkpointing. Default: False.
        conv_cfg (dict, optional): Conv config.
        norm_cfg (dict): Norm config. Default: BN.
        dcn (dict, optional): Deformable conv2 of a bottleneck (MMDetection's).
        plugins (list[dict], optional): MMDetection's bottleneck plugins.
        groups (int): Groups of the 3x3 conv (ResNeXt). Default: 1.
        base_width (int): Width per group (ResNeXt). Default: 64.
        base_channels (int): Planes of the first stage, the unit of
            ``base_width`` (ResNeXt). Default: 64.
        se (int, optional): SE reduction; None: no SE.
        eca_kernel (int, optional): ECA kernel size; None: no ECA.
        drop_path_rate (float): Stochastic depth of the branch. Default: 0.
        expansion (int, optional): Output channels per plane (MMPretrain's).
            Default: the block's (basic 1, bottleneck 4).
        init_cfg (dict, optional): Initialization config.
    """
    expansion = 1
    #: The tensors besides the output that the block gives the RLA update.
    rla_taps = ('branch', 'shortcut')

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 rla_channel: int,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample: Optional[nn.Module] = None,
                 style: str = 'pytorch',
                 with_cp: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 dcn: Optional[dict] = None,
                 plugins: Optional[List[dict]] = None,
                 groups: int = 1,
                 base_width: int = 64,
                 base_channels: int = 64,
                 se: Optional[int] = None,
                 eca_kernel: Optional[int] = None,
                 drop_path_rate: float = 0.,
                 expansion: Optional[int] = None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        check_choice(
            'style', style, ('pytorch', 'caffe'), error=ValueAssertionError)
        check_type('dcn', dcn, (dict, type(None)), error=TypeAssertionError)
        check_type(
            'plugins',
            plugins, (list, tuple, type(None)),
            error=TypeAssertionError)
        self.inplanes, self.planes, self.rla_channel = \
            inplanes, planes, rla_channel
        self.stride, self.dilation, self.style = stride, dilation, style
        self.with_cp = with_cp
        self.groups, self.base_width = groups, base_width
        self.base_channels = base_channels
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        self.dcn, self.plugins = dcn, list(plugins or ())
        self.with_plugins = bool(self.plugins)
        for plugin in self.plugins:
            check_choice(
                'plugin position',
                plugin['position'],
                PLUGIN_POSITIONS,
                error=ValueAssertionError)
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

    # MMPretrain's names of the widths
    @property
    def in_channels(self) -> int:
        return self.inplanes

    @property
    def mid_channels(self) -> int:
        return self.planes

    @property
    def out_channels(self) -> int:
        return self.planes * self.expansion

    @abstractmethod
    def build_branch(self, out_channels: int) -> None:
        """Build the convs and norms of the residual branch."""

    @abstractmethod
    def forward_branch(self, x: Tensor, h: Optional[Tensor]) -> Tensor:
        """The residual branch on ``[x, h]``, up to its last norm."""

    def build_plugins(self, out_channels: int) -> None:
        """Build the plugins (registered after the shortcut, as MMDetection
        does); blocks without plugin positions build none."""

    def add_norm(self, index: int, channels: int) -> None:
        """Register the norm ``norm<index>`` on ``channels``."""
        name, norm = build_norm_layer(self.norm_cfg, channels, postfix=index)
        setattr(self, f'norm{index}_name', name)
        self.add_module(name, norm)

    def make_plugins(self, channels: int, position: str) -> List[str]:
        """Build the plugins of ``position`` on ``channels``; return their
        names."""
        names = []
        for plugin in self.plugins:
            if plugin['position'] != position:
                continue
            cfg = dict(plugin['cfg'])
            name, layer = build_plugin_layer(
                cfg, in_channels=channels, postfix=cfg.pop('postfix', ''))
            if hasattr(self, name):
                raise ValueAssertionError(
                    f'two plugins of a block are named {name!r}; give each '
                    f'its own postfix')
            self.add_module(name, layer)
            names.append(name)
        return names

    def forward_plugins(self, x: Tensor, names: Sequence[str]) -> Tensor:
        for name in names:
            x = getattr(self, name)(x)
        return x

    def forward(self,
                x: Tensor,
                h: Optional[Tensor] = None,
                taps: Optional[Dict[str, Tensor]] = None) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.forward_branch(x, h)
        if self.se is not None:
            out = self.se(out)
        if self.eca is not None:
            out = self.eca(out)
        if self.drop_path is not None:
            out = self.drop_path(out)
        if taps is not None:
            taps['branch'], taps['shortcut'] = out, identity
        return self.relu(out + identity)


class RLABasicBlock(_RLAResidualBlock):
    """Post-activation basic block whose first conv also reads h; as in
    MMDetection, ``dcn`` and ``plugins`` are refused, ``groups`` is 1 and
    ``expansion`` 1."""
    expansion = 1
    norm1, norm2 = _norm(1), _norm(2)
    last_norm = norm2  # closes the residual branch (zero-initialised)

    def build_branch(self, out_channels: int) -> None:
        if self.groups != 1 or self.base_width != 64:
            raise ValueError('RLABasicBlock supports only groups=1 and '
                             f'base_width=64, got groups={self.groups}, '
                             f'base_width={self.base_width}')
        for name, value in (('dcn', self.dcn), ('plugins', self.plugins)):
            if value:
                raise ValueAssertionError(
                    f'{name} needs bottleneck blocks (depth 50, 101 or 152); '
                    f'basic blocks (depth 18, 34) take none, as in '
                    f"MMDetection's ResNet, got {name}={value!r}")
        if self.expansion != 1:
            raise ValueAssertionError(f'basic blocks have expansion 1, got '
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

    def forward_branch(self, x: Tensor, h: Optional[Tensor]) -> Tensor:
        out = self.relu(self.norm1(conv_block_input(self.conv1, x, h)))
        return self.norm2(self.conv2(out))


class RLABottleneck(_RLAResidualBlock):
    """Post-activation bottleneck whose first 1x1 conv also reads h; ``dcn``
    and ``plugins`` as in MMDetection's Bottleneck."""
    expansion = 4
    norm1, norm2, norm3 = _norm(1), _norm(2), _norm(3)
    last_norm = norm3  # closes the residual branch (zero-initialised)

    @property
    def mid_channels(self) -> int:
        """Channels of conv1 and conv2: ``planes``, or with ResNeXt's groups
        ``floor(planes * base_width / base_channels) * groups``."""
        if self.groups == 1:
            return self.planes
        return int(
            self.planes * self.base_width // self.base_channels) * self.groups

    @property
    def conv1_stride(self) -> int:
        return 1 if self.style == 'pytorch' else self.stride

    @property
    def conv2_stride(self) -> int:
        return self.stride if self.style == 'pytorch' else 1

    def build_branch(self, out_channels: int) -> None:
        width = self.mid_channels
        self.conv1 = build_conv_layer(
            self.conv_cfg,
            self.inplanes + self.rla_channel,
            width,
            1,
            stride=self.conv1_stride,
            bias=False)
        self.add_norm(1, width)
        # MMDetection's rule: fallback_on_stride=True keeps a plain conv2
        dcn = dict(self.dcn) if self.dcn else None
        self.with_dcn = dcn is not None \
            and not dcn.pop('fallback_on_stride', False)
        if self.with_dcn and self.conv_cfg is not None:
            raise ValueAssertionError(
                f'conv_cfg must be None with dcn (conv2 is the deformable '
                f'conv), got conv_cfg={self.conv_cfg!r}')
        self.conv2 = build_conv_layer(
            dcn if self.with_dcn else self.conv_cfg,
            width,
            width,
            3,
            stride=self.conv2_stride,
            padding=self.dilation,
            dilation=self.dilation,
            groups=self.groups,
            bias=False)
        self.add_norm(2, width)
        self.conv3 = build_conv_layer(
            self.conv_cfg, width, out_channels, 1, bias=False)
        self.add_norm(3, out_channels)

    def build_plugins(self, out_channels: int) -> None:
        width = self.mid_channels
        self.after_conv1_plugin_names = self.make_plugins(width, 'after_conv1')
        self.after_conv2_plugin_names = self.make_plugins(width, 'after_conv2')
        self.after_conv3_plugin_names = self.make_plugins(
            out_channels, 'after_conv3')

    def forward_branch(self, x: Tensor, h: Optional[Tensor]) -> Tensor:
        out = self.relu(self.norm1(conv_block_input(self.conv1, x, h)))
        out = self.forward_plugins(out, self.after_conv1_plugin_names)
        out = self.relu(self.norm2(self.conv2(out)))
        out = self.forward_plugins(out, self.after_conv2_plugin_names)
        out = self.norm3(self.conv3(out))
        return self.forward_plugins(out, self.after_conv3_plugin_names)


@register_model()
class RLAResNet(RLABackbone):
    """ResNet with Recurrent Layer Aggregation (paper Sec. 3.3, Eq. 11).

    The RLA twin of the ``ResNet`` of MMDetection, MMPretrain and
    MMSegmentation: it takes their arguments, so a config changes only its
    ``type``; where their defaults differ, it takes those of the library
    whose scope builds it (``None`` below). ``layerN`` indexes like their
    ``ResLayer`` (``layer4[-1]`` is the last block); each stage also holds its
    RLA parts (``conv_out``, ``recurrent_conv``, ``norms``). A plain ResNet
    checkpoint initialises the main path exactly (``plain_init``).

    Detection reads the main-path outputs; with ``cat_hidden=True`` (the
    classifiers) the last output is ``cat[x, relu(bn_hidden(h))]``, 2048 + k
    channels for depth >= 50.

    Args:
        depth (int): 18, 34 (basic blocks), 50, 101 or 152 (bottlenecks).
        in_channels (int): Input image channels. Default: 3.
        stem_channels (int, optional): Stem output channels. Default: None.
        base_channels (int): Planes of the first stage. Default: 64.
        expansion (int, optional): Output channels per plane of a block
            (MMPretrain's). Default: None, the block's.
        num_stages (int): Stages, 1 to 4. Default: 4.
        strides (Sequence[int]): Stride per stage. Default: (1, 2, 2, 2).
        dilations (Sequence[int]): Dilation per stage. Default: (1, 1, 1, 1).
        out_indices (Sequence[int], optional): Stages to output.
            Default: None.
        style (str): 'pytorch' or 'caffe'. Default: 'pytorch'.
        deep_stem (bool): 3x(3x3) stem instead of the 7x7 conv.
        avg_down (bool): Average-pool shortcuts (ResNet-D).
        frozen_stages (int): Freeze the stem and this many stages, RLA parts
            included; -1: none. Default: -1.
        conv_cfg (dict, optional): Config of every conv.
        norm_cfg (dict): Config of every norm.
        norm_eval (bool, optional): BNs stay in eval mode while training
            (not the RLA norms that start fresh from a plain checkpoint).
            Default: None.
        with_cp (bool): Activation checkpointing of each block with its RLA
            update. Default: False.
        zero_init_residual (bool): Zero-init each branch's last norm unless
            ``init_cfg`` is ``Pretrained``. Default: True.
        init_cfg (dict | list[dict], optional): Initialization config.
        drop_path_rate (float): Stochastic depth, rising linearly over the
            blocks (MMPretrain's). Default: 0.
        dcn (dict, optional): Deformable conv2 in the stages
            ``stage_with_dcn`` marks (MMDetection's).
        stage_with_dcn (Sequence[bool]): One flag per stage.
        plugins (list[dict], optional): MMDetection's block plugins.
        pretrained (str, optional): Deprecated: ``init_cfg=dict(type=
            'Pretrained', checkpoint=pretrained)``.
        multi_grid (Sequence[int], optional): Dilations of the last stage's
            blocks (MMSegmentation's).
        contract_dilation (bool): Halve the dilation of a dilated stage's
            first block (MMSegmentation's). Default: False.
        rla_channel (int): Hidden channels k; 0: the plain ResNet.
            Default: 32.
        rla_source (str): What feeds the RLA update: 'output' (x_t, the
            authors' code and weights) or 'branch' (y_t, Eq. 11).
            Default: 'output'.
        cat_hidden (bool): Join h to the last output. Default: False.
        groups (int): Groups of the 3x3 convs (ResNeXt). Default: 1.
        base_width (int): Width per group (ResNeXt). Default: 64.
        eca (bool | Sequence[int], optional): ECA in every block; True: the
            kernel sizes (5, 5, 5, 7). Default: None.
        se (bool | int, optional): SE with this reduction (True: 16).
        extra_channels (int): Widen every block's output (the "channel + k"
            baseline of Table 6 (a) with ``rla_channel=0``). Default: 0.
        **rla_options: ``hidden_act``, ``hidden_norm`` and the ablations
            ``rla_add``, ``rla_act``, ``rla_cell``, ``rla_shared``,
            ``rla_exchange`` (see :class:`RLABackbone`).

    Example:
        >>> import torch
        >>> from rla_mm.models import RLAResNet
        >>> model = RLAResNet(50).eval()
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
                 expansion: Optional[int] = None,
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
                 with_cp: bool = False,
                 zero_init_residual: bool = True,
                 init_cfg=None,
                 drop_path_rate: float = 0.,
                 dcn: Optional[dict] = None,
                 stage_with_dcn: Sequence[bool] = (False, False, False, False),
                 plugins: Optional[List[dict]] = None,
                 pretrained: Optional[str] = None,
                 multi_grid: Optional[Sequence[int]] = None,
                 contract_dilation: bool = False,
                 rla_channel: int = 32,
                 rla_source: str = 'output',
                 cat_hidden: bool = False,
                 groups: int = 1,
                 base_width: int = 64,
                 eca: Union[bool, Sequence[int], None] = None,
                 se: Union[bool, int, None] = None,
                 extra_channels: int = 0,
                 **rla_options):
        if depth not in self.arch_settings:
            raise ValueKeyError(f'invalid depth {depth!r} for '
                                f'{type(self).__name__}, expected one of '
                                f'{tuple(self.arch_settings)}')
        self.depth = depth
        self.block, stage_blocks = self.arch_settings[depth]
        num_stages = check_int(
            'num_stages',
            num_stages,
            1,
            len(stage_blocks),
            error=ValueAssertionError)
        self.stage_blocks = stage_blocks[:num_stages]
        self.extra_planes = extra_planes(extra_channels, self.block.expansion)
        for name, values in (('strides', strides), ('dilations', dilations)):
            if len(values) != num_stages:
                raise ValueAssertionError(
                    f'{name} must have num_stages = {num_stages} entries, '
                    f'got {tuple(values)!r}')
            for v in values:
                check_int(name, v, 1)
        self.strides, self.dilations = tuple(strides), tuple(dilations)
        self.base_channels = check_int('base_channels', base_channels, 1)
        stem_channels = library_default('stem_channels', stem_channels)
        self.stem_channels = check_int(
            'stem_channels',
            base_channels if stem_channels is None else stem_channels, 1)
        self.style = check_choice(
            'style', style, ('pytorch', 'caffe'), error=ValueAssertionError)
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
        self.multi_grid = self._check_multi_grid(multi_grid)
        self.contract_dilation = check_bool('contract_dilation',
                                            contract_dilation)
        self.drop_path_rates = self._drop_path_rates(drop_path_rate)
        init_cfg = self._init_cfg_of(pretrained, init_cfg)
        self.fresh_norms: List[nn.Module] = []
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

    # -- argument checks
    @staticmethod
    def _se_reduction(se) -> Optional[int]:
        if se is None or se is False:
            return None
        if se is True:
            return DEFAULT_SE_REDUCTION
        return check_int('se (the SE reduction)', se, 1)

    def _check_dcn(self, dcn, stage_with_dcn,
                   num_stages: int) -> Tuple[Optional[dict], Tuple[bool, ...]]:
        check_type('dcn', dcn, (dict, type(None)), error=TypeAssertionError)
        flags = tuple(stage_with_dcn)
        if dcn is not None:
            if len(flags) != num_stages:
                raise ValueAssertionError(
                    f'stage_with_dcn must have num_stages = {num_stages} '
                    f'entries, got {flags!r}')
            for flag in flags:
                check_bool('stage_with_dcn entry', flag)
        return dcn, flags

    @staticmethod
    def _check_plugins(plugins, num_stages: int) -> Tuple[dict, ...]:
        if plugins is None:
            return ()
        if not isinstance(plugins, (list, tuple)):
            raise TypeAssertionError(f'plugins must be a list of dicts, got '
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
            check_choice(
                'plugin position',
                plugin['position'],
                PLUGIN_POSITIONS,
                error=ValueAssertionError)
            stages = plugin.get('stages')
            if stages is not None and len(stages) != num_stages:
                raise ValueAssertionError(
                    f'plugin stages must have num_stages = {num_stages} '
                    f'entries, got {tuple(stages)!r}')
        return tuple(plugins)

    def _check_expansion(self, expansion) -> int:
        if expansion is None:
            return self.block.expansion
        if isinstance(expansion, bool) or not isinstance(expansion, int):
            raise TypeError(f'expansion must be an int or None, got '
                            f'{expansion!r}')
        check_int('expansion', expansion, 1, error=ValueAssertionError)
        if self.block is RLABasicBlock and expansion != 1:
            raise ValueAssertionError(
                f'depth {self.depth} has basic blocks, whose expansion is 1, '
                f'got expansion={expansion!r}')
        return expansion

    def _check_multi_grid(self, multi_grid) -> Optional[Tuple[int, ...]]:
        """MMSegmentation's dilations of the last stage's blocks."""
        if multi_grid is None:
            return None
        grid = tuple(multi_grid)
        if len(grid) != self.stage_blocks[-1]:
            raise ValueAssertionError(
                f'multi_grid must give one dilation per block of the last '
                f'stage ({self.stage_blocks[-1]}), got {grid!r}')
        for rate in grid:
            check_int('multi_grid entry', rate, 1)
        return grid

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
            raise ValueAssertionError(
                f'init_cfg and pretrained cannot be set at the same time, got '
                f'init_cfg={init_cfg!r} and pretrained={pretrained!r}')
        warnings.warn('DeprecationWarning: pretrained is deprecated, please '
                      'use "init_cfg" instead')
        return dict(type='Pretrained', checkpoint=pretrained)

    @property
    def res_layers(self) -> List[str]:
        """Names of the stages (MMDetection's ResNet name for them)."""
        return self.stage_names

    # -- building
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

    def block_dilations(self, index: int) -> List[int]:
        """The dilation of each block of stage ``index``: the stage's, or
        MMSegmentation's ``multi_grid`` (last stage) and
        ``contract_dilation`` (half in a dilated stage's first block)."""
        num = self.stage_blocks[index]
        if self.multi_grid is not None \
                and index == len(self.stage_blocks) - 1:
            return list(self.multi_grid)
        dilation = self.dilations[index]
        first = dilation // 2 if dilation > 1 and self.contract_dilation \
            else dilation
        return [first] + [dilation] * (num - 1)

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
        for i, dilation in enumerate(self.block_dilations(index)):
            blocks.append(
                self.block(
                    inplanes=in_channels if i == 0 else out_channels,
                    planes=planes,
                    rla_channel=self.block_rla_channel,
                    stride=stride if i == 0 else 1,
                    dilation=dilation,
                    downsample=self._make_downsample(
                        in_channels, out_channels, stride) if i == 0 else None,
                    style=self.style,
                    with_cp=self.with_cp,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg,
                    dcn=self.dcn if self.stage_with_dcn[index] else None,
                    plugins=[{
                        k: v
                        for k, v in p.items() if k != 'stages'
                    } for p in plugins] or None,
                    groups=self.groups,
                    base_width=self.base_width,
                    base_channels=self.base_channels,
                    se=self.se_reduction,
                    eca_kernel=self.eca_kernels[index],
                    drop_path_rate=self.drop_path_rates[first + i],
                    expansion=self.expansion))
        return StageSpec(blocks, out_channels, stride)

    # -- weights
    def init_weights(self) -> None:
        super().init_weights()
        pretrained = isinstance(self.init_cfg, dict) \
            and self.init_cfg.get('type') == 'Pretrained'
        if self.zero_init_residual and not pretrained:
            for name in self.stage_names:
                for block in getattr(self, name):
                    constant_init(block.last_norm, 0)

    def _adapt_plain_checkpoint(self, state_dict, prefix, *args) -> None:
        """Load-state-dict pre-hook: a plain ResNet checkpoint initialises
        the main path; the RLA parts it lacks start fresh (``plain_init``)."""
        done = adapt_plain_resnet(self, state_dict, prefix)
        if done is None:
            return
        print_log(done.message(type(self).__name__), logger='current')
        self.fresh_norms = [
            n for s in done.fresh_stages for n in getattr(self, s).norms
        ]
        if done.fresh_hidden_norm:
            self.fresh_norms.append(getattr(self, self.hidden_norm_name))
        for norm in self.fresh_norms:
            for param in norm.parameters():
                param.requires_grad = True
        self._freeze_stages()

    def train(self, mode: bool = True) -> 'RLAResNet':
        """As :meth:`RLABackbone.train`; RLA norms that started fresh from a
        plain checkpoint (no statistics to keep) stay in train mode under
        ``norm_eval``, unless their stage is frozen."""
        super().train(mode)
        if mode and self.norm_eval and self.fresh_norms:
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
    """RLA twin of ResNetV1c: the deep 3x(3x3) stem."""

    def __init__(self, depth: int, **kwargs):
        super().__init__(depth, deep_stem=True, avg_down=False, **kwargs)


@register_model()
class RLAResNetV1d(RLAResNet):
    """RLA-ResNet-D (the paper's † models), twin of ResNetV1d: the deep stem
    and average-pool shortcuts."""

    def __init__(self, depth: int, **kwargs):
        super().__init__(depth, deep_stem=True, avg_down=True, **kwargs)


@register_model()
class RLAResNet_CIFAR(RLAResNet):
    """RLA twin of MMPretrain's ResNet_CIFAR: a 3x3 stride-1 stem without
    max-pool, for 32x32 images, and MMPretrain's defaults in every scope;
    ``deep_stem`` is refused."""

    def __init__(self,
                 depth: int,
                 deep_stem: bool = False,
                 out_indices: Sequence[int] = (3, ),
                 norm_eval: bool = False,
                 stem_channels: int = 64,
                 **kwargs):
        if deep_stem:
            raise ValueAssertionError(
                f'RLAResNet_CIFAR has a 3x3 stem, got deep_stem={deep_stem!r}')
        super().__init__(
            depth,
            deep_stem=False,
            out_indices=out_indices,
            norm_eval=norm_eval,
            stem_channels=stem_channels,
            **kwargs)

    def make_stem(self) -> Tuple[int, int]:
        self.conv1 = build_conv_layer(
            self.conv_cfg,
            self.in_channels,
            self.stem_channels,
            3,
            stride=1,
            padding=1,
            bias=False)
        self.norm1_name, norm1 = build_norm_layer(
            self.norm_cfg, self.stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)
        return self.stem_channels, 1

    def forward_stem(self, x: Tensor) -> Tensor:
        return self.relu(self.norm1(self.conv1(x)))


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
    """RLA twin of ResNeXt (depth 50, 101, 152).

    Args:
        depth (int): 50, 101 or 152.
        groups (int, optional): Groups of the 3x3 convs. Default: None, the
            building library's (MMDetection, MMSegmentation: 1; MMPretrain,
            rla_mm: 32).
        width_per_group (int, optional): Width per group (MMPretrain's name).
            Default: 4.
        base_width (int, optional): The same (MMDetection's name); give one.
        **kwargs: Arguments of :class:`RLAResNet`.
    """
    arch_settings = {d: RLAResNet.arch_settings[d] for d in (50, 101, 152)}

    def __init__(self,
                 depth: int,
                 groups: Optional[int] = None,
                 width_per_group: Optional[int] = None,
                 base_width: Optional[int] = None,
                 **kwargs):
        groups, width = _resnext_width(
            type(self).__name__, groups, base_width, width_per_group)
        super().__init__(depth, groups=groups, base_width=width, **kwargs)


@register_model()
class RLASEResNet(RLAResNet):
    """RLA twin of MMPretrain's SEResNet (depth 50, 101, 152): SE after each
    bottleneck's last norm, before the residual sum.

    Args:
        depth (int): 50, 101 or 152.
        se_ratio (int): Reduction of the SE gate. Default: 16.
        **kwargs: Arguments of :class:`RLAResNet`.
    """
    arch_settings = {d: RLAResNet.arch_settings[d] for d in (50, 101, 152)}

    def __init__(self, depth: int, se_ratio: int = 16, **kwargs):
        super().__init__(
            depth, se=check_int('se_ratio', se_ratio, 1), **kwargs)


@register_model()
class RLASEResNeXt(RLAResNeXt):
    """RLA twin of MMPretrain's SEResNeXt (depth 50, 101, 152).

    Args:
        depth (int): 50, 101 or 152.
        groups (int, optional): As :class:`RLAResNeXt`.
        width_per_group (int, optional): As :class:`RLAResNeXt`.
        se_ratio (int): Reduction of the SE gate. Default: 16.
        **kwargs: Arguments of :class:`RLAResNeXt`.
    """

    def __init__(self,
                 depth: int,
                 groups: Optional[int] = None,
                 width_per_group: Optional[int] = None,
                 se_ratio: int = 16,
                 **kwargs):
        super().__init__(
            depth,
            groups,
            width_per_group,
            se=check_int('se_ratio', se_ratio, 1),
            **kwargs)
