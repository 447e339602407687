"""The contract of every RLA backbone: shared arguments, one frame, one
freezing rule.

A family (ResNet, MobileNetV2, the CIFAR networks) subclasses
:class:`RLABackbone` and writes only what is its own:

* :meth:`~RLABackbone.make_stem` builds the stem and says its channels and
  stride;
* :meth:`~RLABackbone.make_stage` builds the blocks of one stage;
* :meth:`~RLABackbone.make_close` builds what follows the last stage;
* :meth:`~RLABackbone.forward_stem`, :meth:`~RLABackbone.forward_close` run
  them;
* :meth:`~RLABackbone.stem_modules`, :meth:`~RLABackbone.close_modules` name
  them for freezing.

The base class checks the shared arguments once, builds the stages through the
hook (wrapping each in an :class:`RLAStage`), owns the forward frame::

    x, h = stem(x), 0;
    for each stage: x, h = stage(x, h), collect x;
    close(x, h)

and builds only what an output reads: stages after the deepest of
``out_indices``, the close when its output is not asked for, and the last
hidden-state update when the close does not join h (``cat_hidden=False``) are
left out, so every parameter gets a gradient and DDP needs no
``find_unused_parameters``.
"""
from abc import ABCMeta, abstractmethod
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from ...checks import (check_bool, check_choice, check_indices, check_int,
                       check_odd, check_type)
from ...pretrained import check_pretrained_file
from ..layers.rla_stage import (RLA_VARIANT_DEFAULTS, RLAStage,
                                check_rla_source, check_rla_variant, hidden_of,
                                init_state)


def _no_act(h: Tensor) -> Tensor:
    return h


#: Activations of the final hidden state before it joins the features.
HIDDEN_ACTS = {
    'relu': F.relu,
    'relu6': F.relu6,
    'tanh': torch.tanh,
    'none': _no_act,
}


class StageSpec(NamedTuple):
    """What :meth:`RLABackbone.make_stage` returns for one stage.

    Args:
        blocks (list[nn.Module]): Blocks with ``forward(x, h) -> (x, y)``.
        out_channels (int): Channels of the stage output (and of ``y``).
        stride (int): How much the stage reduces the resolution.
        recurrent_conv (nn.Module, optional): A recurrent conv to share with
            other stages; None builds the stage's own.
    """
    blocks: List[nn.Module]
    out_channels: int
    stride: int
    recurrent_conv: Optional[nn.Module] = None


def eca_kernel_sizes(eca: Union[bool, Sequence[int], None],
                     num: int,
                     default: Sequence[int],
                     unit: str = 'stage') -> Tuple[Optional[int], ...]:
    """Per-stage ECA kernel sizes from the ``eca`` argument.

    Args:
        eca (bool | Sequence[int] | None): None/False (off), True (``default``)
            or one odd kernel size per stage.
        num (int): Number of stages.
        default (Sequence[int]): Kernel sizes for ``eca=True``.
        unit (str): What one entry is for, in the message.
    """
    if eca is None or eca is False:
        return (None, ) * num
    if eca is True:
        return tuple(default)
    if isinstance(eca, (str, bytes)) or not hasattr(eca, '__len__') \
            or len(eca) != num:
        raise ValueError(f'eca must be None, True or a sequence of {num} odd '
                         f'kernel sizes (one per {unit}), got {eca!r}')
    return tuple(check_odd('eca kernel size', k) for k in eca)


def extra_planes(extra_channels: int, expansion: int) -> int:
    """Planes to add to every block so that its output widens by
    ``extra_channels`` (the "channel + k" baselines of the paper's Tables 6 (a)
    and 12: bottleneck widths 16 + k/4, 16 + k/4, 64 + k).

    Args:
        extra_channels (int): Channels to add to each block's output.
        expansion (int): Output channels per plane of the family's block.
    """
    check_int('extra_channels', extra_channels, 0)
    if extra_channels % expansion:
        raise ValueError(
            f'extra_channels must be a multiple of the block expansion '
            f'{expansion}, got {extra_channels!r}')
    return extra_channels // expansion


def default_init_cfg() -> list:
    """Kaiming-normal convs and unit norms: the RLA backbones' default init."""
    return [
        dict(type='Kaiming', layer='Conv2d'),
        dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
    ]


class RLABackbone(BaseModule, metaclass=ABCMeta):
    """Base of the RLA backbones: the shared arguments, frame and freezing.

    Outputs are numbered ``0 .. num_stages - 1`` for the stages; a family whose
    close is a layer of its own (``close_has_output = True``, MobileNetV2's
    last 1x1 conv) adds output ``num_stages``. Otherwise the close (a final
    norm, the exit flow, or nothing) is applied to the last stage's output.

    Attributes:
        feat_dim (int): Channels of the deepest output, the one a classifier
            head reads (hidden state included when ``cat_hidden``).
        output_info (list[dict]): One entry per output index, in order:
            ``num_chs`` (channels), ``reduction`` (input size / output size)
            and ``module`` (the module that produces it).

    Args:
        num_stages (int): Stages of the full network.
        rla_channel (int): Hidden channels k (0: the plain network, for the
            families with ``min_rla_channel = 0``).
        out_indices (Sequence[int]): Outputs to return.
        cat_hidden (bool): The close joins ``act(norm(h))`` to the features
            (the classifier input of the paper, Sec. 3.3).
        frozen_stages (int): Freeze the stem and this many stages, RLA parts
            included (and the close, when it has its own output index below
            it); -1: nothing. Default: -1.
        in_channels (int): Input image channels. Default: 3.
        rla_source (str): 'branch' feeds the branch output to the RLA update
            (Eq. 11), 'output' the block output, see :class:`RLAStage`.
            Default: 'branch'.
        conv_cfg (dict, optional): Config of every conv. Default: None.
        norm_cfg (dict): Config of every norm, RLA norms included.
            Default: ``dict(type='BN', requires_grad=True)``.
        norm_eval (bool): Keep every BN in eval mode while training.
            Default: False.
        with_cp (bool): Activation checkpointing per block. Default: False.
        init_cfg (dict | list[dict], optional): Initialization config.
            Default: Kaiming convs and unit norms.
        rla_add, rla_act, rla_cell, rla_shared, rla_exchange: The ablation
            variants of the RLA update, see :class:`RLAStage`; the defaults
            are the paper's module. Only families with
            ``takes_rla_variants = True`` take other values.
            ``rla_exchange=False`` builds blocks that do not read h.
        hidden_act (str, optional): Activation of the final hidden state
            before it joins the features: 'relu', 'relu6', 'tanh' or 'none';
            None: the family's own (:meth:`family_hidden_act`). Default: None.
        hidden_norm (bool): Normalise the final hidden state (``bn_hidden``)
            before that activation. Default: True.
    """

    #: Smallest hidden width the family's blocks accept.
    min_rla_channel: int = 1
    #: Whether the close is an output of its own (index ``num_stages``).
    close_has_output: bool = False
    #: Whether the family takes the ablation options of the RLA update.
    takes_rla_variants: bool = False

    def __init__(self,
                 num_stages: int,
                 rla_channel: int,
                 out_indices: Sequence[int],
                 cat_hidden: bool,
                 frozen_stages: int = -1,
                 in_channels: int = 3,
                 rla_source: str = 'branch',
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg=None,
                 rla_add: str = 'before',
                 rla_act: str = 'pre',
                 rla_cell: str = 'conv',
                 rla_shared: bool = True,
                 rla_exchange: bool = True,
                 hidden_act: Optional[str] = None,
                 hidden_norm: bool = True):
        super().__init__(init_cfg=init_cfg or default_init_cfg())
        num_outputs = num_stages + int(self.close_has_output)
        self.num_stages = num_stages
        self.rla_channel = check_int('rla_channel', rla_channel,
                                     self.min_rla_channel)
        self.out_indices = check_indices('out_indices', out_indices,
                                         num_outputs - 1)
        self.frozen_stages = check_int('frozen_stages', frozen_stages, -1,
                                       num_outputs)
        self.cat_hidden = check_bool('cat_hidden', cat_hidden)
        self.in_channels = check_int('in_channels', in_channels, 1)
        self.rla_source = check_rla_source(rla_source)
        self.conv_cfg = check_type('conv_cfg', conv_cfg, (dict, type(None)))
        self.norm_cfg = check_type('norm_cfg', norm_cfg, dict)
        self.norm_eval = check_bool('norm_eval', norm_eval)
        self.with_cp = check_bool('with_cp', with_cp)
        self.rla_variant = dict(
            rla_add=rla_add,
            rla_act=rla_act,
            rla_cell=rla_cell,
            rla_shared=rla_shared,
            rla_exchange=rla_exchange)
        check_rla_variant(**self.rla_variant)
        changed = {
            k: v
            for k, v in self.rla_variant.items()
            if v != RLA_VARIANT_DEFAULTS[k]
        }
        if changed and not self.takes_rla_variants:
            raise ValueError(
                f'{type(self).__name__} does not offer the ablation options '
                f'of the RLA update, got {changed!r}; RLAResNet and '
                f'RLAPreActResNet do')
        self.rla_cell, self.rla_exchange = rla_cell, rla_exchange
        self.hidden_act_choice = None if hidden_act is None else \
            check_choice('hidden_act', hidden_act, tuple(HIDDEN_ACTS))
        self.with_hidden_norm = check_bool('hidden_norm', hidden_norm)
        # The close's output: its own index, or that of the last stage.
        self.close_index = num_outputs - 1
        self.closed = self.close_index in self.out_indices
        if cat_hidden and rla_channel == 0:
            raise ValueError('cat_hidden=True needs a hidden state, but '
                             'rla_channel=0 builds the plain network; set '
                             'cat_hidden=False')
        if cat_hidden and not self.closed:
            raise ValueError(
                f'cat_hidden=True joins the hidden state to output '
                f'{self.close_index}, so out_indices must contain it, got '
                f'{self.out_indices!r}; set cat_hidden=False for the other '
                f'outputs alone')
        self._build()
        self._freeze_stages()

    def _build(self) -> None:
        """Build the stem, the stages an output reads, and (if read) the
        close."""
        channels, reduction = self.make_stem()
        num_built = min(max(self.out_indices), self.num_stages - 1) + 1
        info = []
        self.stage_names: List[str] = []
        for i in range(num_built):
            spec = self.make_stage(i, channels)
            stage = RLAStage(
                spec.blocks,
                out_channels=spec.out_channels,
                rla_channel=self.rla_channel,
                recurrent_conv=spec.recurrent_conv,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                rla_source=self.rla_source,
                **self.rla_variant,
                # Update h after the stage's last block only if something
                # reads it: the next stage, or the close joining it.
                update_last=i < num_built - 1 or self.cat_hidden,
                with_cp=self.with_cp)
            name = f'layer{i + 1}'
            self.add_module(name, stage)
            self.stage_names.append(name)
            channels, reduction = spec.out_channels, reduction * spec.stride
            info.append(
                dict(num_chs=channels, reduction=reduction, module=name))
        if self.closed:
            channels, module = self.make_close(channels)
            if self.cat_hidden and not hasattr(self, 'hidden_norm_name'):
                raise TypeError(f'{type(self).__name__}.make_close must call '
                                f'add_hidden_norm() when cat_hidden=True')
            entry = dict(num_chs=channels, reduction=reduction, module=module)
            if self.close_has_output:
                info.append(entry)
            else:
                info[-1] = entry
        self.output_info = [info[i] for i in sorted(set(self.out_indices))]
        self.feat_dim = self.output_info[-1]['num_chs']

    @property
    def block_rla_channel(self) -> int:
        """Hidden channels the blocks read: k, or 0 with
        ``rla_exchange=False``."""
        return self.rla_channel if self.rla_exchange else 0

    def add_hidden_norm(self) -> int:
        """Add the norm on the final hidden state (``bn_hidden`` for BN),
        unless ``hidden_norm=False``.

        Families call it from :meth:`make_close`, where their checkpoints put
        it.

        Returns:
            int: The channels the hidden state adds to the features (k).
        """
        self.hidden_norm_name = None
        if self.with_hidden_norm:
            self.hidden_norm_name, norm = build_norm_layer(
                self.norm_cfg, self.rla_channel, postfix='_hidden')
            self.add_module(self.hidden_norm_name, norm)
        return self.rla_channel

    @property
    def hidden_norm_layer(self) -> nn.Module:
        """Norm applied to the final hidden state before it joins x."""
        if self.hidden_norm_name is None:
            return nn.Identity()
        return getattr(self, self.hidden_norm_name)

    def family_hidden_act(self, h: Tensor) -> Tensor:
        """The family's activation of the final hidden state before it joins
        the features (the ``hidden_act`` argument overrides it).

        A method rather than a ``staticmethod(F.relu)`` attribute: torch 2.1's
        dynamo breaks the graph on the latter.
        """
        return F.relu(h)

    def append_hidden(self, x: Tensor, h) -> Tensor:
        """``cat[x, hidden_act(hidden_norm(h))]`` with ``cat_hidden``, else
        ``x``.

        ``h`` is the last stage's state (the LSTM cell's ``(h, c)`` gives h).
        """
        if not self.cat_hidden:
            return x
        h = hidden_of(h)
        if self.hidden_norm_name is not None:
            h = getattr(self, self.hidden_norm_name)(h)
        if self.hidden_act_choice is None:
            h = self.family_hidden_act(h)
        else:
            h = HIDDEN_ACTS[self.hidden_act_choice](h)
        return torch.cat([x, h], dim=1)

    # -- what each family writes ---------------------------------------------
    @abstractmethod
    def make_stem(self) -> Tuple[int, int]:
        """Build the stem; return its output channels and its stride."""

    @abstractmethod
    def make_stage(self, index: int, in_channels: int) -> StageSpec:
        """Build the blocks of stage ``index`` that reads ``in_channels``."""

    @abstractmethod
    def make_close(self, in_channels: int) -> Tuple[int, str]:
        """Build what follows the last stage.

        Called only when its output is read. With ``cat_hidden`` it must call
        :meth:`add_hidden_norm` (where its checkpoints put the norm) and
        :meth:`forward_close` must use :meth:`append_hidden`.

        Returns:
            tuple[int, str]: Output channels and the name of the module that
            produces the output.
        """

    @abstractmethod
    def forward_stem(self, x: Tensor) -> Tensor:
        """Run the stem."""

    @abstractmethod
    def forward_close(self, x: Tensor, h: Optional[Tensor]) -> Tensor:
        """Turn the last stage's output ``x`` and hidden state ``h`` into the
        close's output."""

    @abstractmethod
    def stem_modules(self) -> List[nn.Module]:
        """The stem's modules (frozen by ``frozen_stages >= 0``)."""

    def close_modules(self) -> List[nn.Module]:
        """The close's modules, frozen when its own output index is frozen."""
        return []

    # -- the frame ------------------------------------------------------------
    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Return the features of ``out_indices``, in order of depth.

        Args:
            x (Tensor): Images (N, in_channels, H, W).
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} expects a 4-D (N, C, H, W) input with '
                f'C = in_channels = {self.in_channels}, got shape '
                f'{tuple(x.shape)}')
        x = self.forward_stem(x)
        h = init_state(x, self.rla_channel, self.rla_cell) \
            if self.rla_channel else None
        outs = []
        for i, name in enumerate(self.stage_names):
            x, h = getattr(self, name)(x, h)
            if i in self.out_indices and i != self.close_index:
                outs.append(x)
        if self.closed:
            outs.append(self.forward_close(x, h))
        return tuple(outs)

    def frozen_modules(self) -> List[nn.Module]:
        """The stem, the first ``frozen_stages`` stages (RLA parts included)
        and, when it has its own output index below ``frozen_stages``, the
        close."""
        if self.frozen_stages < 0:
            return []
        modules = list(self.stem_modules())
        modules += [
            getattr(self, name)
            for name in self.stage_names[:self.frozen_stages]
        ]
        if self.close_has_output and self.closed \
                and self.frozen_stages > self.num_stages:
            modules += self.close_modules()
        return modules

    def _freeze_stages(self) -> None:
        for m in self.frozen_modules():
            m.eval()
            for param in m.parameters():
                param.requires_grad = False

    def init_weights(self) -> None:
        check_pretrained_file(self.init_cfg)
        super().init_weights()

    def train(self, mode: bool = True) -> 'RLABackbone':
        """Set train mode, keeping frozen stages and (with norm_eval) norms in
        eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
