"""The base of every RLA backbone: the shared arguments, the forward frame
``x = stem(x); x = stage(x, hidden) per stage; close(x)``, the classifier's
join ``cat[x, act(norm(h))]`` (paper Sec. 3.3, rule 4) and freezing. Only
what an output reads is built, so every parameter gets a gradient."""
from abc import ABCMeta, abstractmethod
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from ...checks import (ValueAssertionError, check_bool, check_choice,
                       check_indices, check_int, check_odd, check_type)
from ...pretrained import check_pretrained_file
from ..layers.rla_stage import (RLA_VARIANT_OPTIONS, HiddenState, RLAStage,
                                RLAVariant, check_rla_source, hidden_of)


def _identity(h: Tensor) -> Tensor:
    return h


#: Activations of the final hidden state before it joins the features.
HIDDEN_ACTS = {
    'relu': F.relu,
    'relu6': F.relu6,
    'tanh': torch.tanh,
    'none': _identity,
}


class StageSpec(NamedTuple):
    """What :meth:`RLABackbone.make_stage` returns: the blocks, the output
    channels, the stride, and an R to share with other stages (or None)."""
    blocks: List[nn.Module]
    out_channels: int
    stride: int
    recurrent_conv: Optional[nn.Module] = None


def eca_kernel_sizes(eca: Union[bool, Sequence[int], None],
                     num: int,
                     default: Sequence[int],
                     unit: str = 'stage') -> Tuple[Optional[int], ...]:
    """``num`` ECA kernel sizes from ``eca``: None/False (off), True
    (``default``) or one odd size per ``unit``."""
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
    """Planes that widen every block's output by ``extra_channels`` (the
    "channel + k" baselines, Tables 6 (a) and 12: 16 + k/4, 16 + k/4, 64 + k
    in a bottleneck)."""
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
    """Base of the RLA backbones.

    Outputs ``0 .. num_stages - 1`` are the stages; a family whose close is a
    layer of its own (``close_has_output``: MobileNetV2's last 1x1 conv) adds
    output ``num_stages``. Otherwise the close applies to the last stage's
    output.

    Attributes:
        feat_dim (int): Channels of the deepest output (hidden state included
            with ``cat_hidden``), the one a classifier head reads.
        output_info (list[dict]): Per selected output: ``num_chs``,
            ``reduction`` (input size / output size) and ``module`` (the
            module that produces it).

    Args:
        num_stages (int): Stages of the full network.
        rla_channel (int): Hidden channels k (0: the plain network).
        out_indices (Sequence[int]): Outputs to return.
        cat_hidden (bool): The close joins ``act(norm(h))`` to the features
            (the classifier input, paper Sec. 3.3).
        frozen_stages (int): Freeze the stem and this many stages, RLA parts
            included (and a close with its own output below it). Default: -1.
        in_channels (int): Input image channels. Default: 3.
        rla_source (str): What feeds the RLA update, see :class:`RLAStage`.
            Default: 'branch' (Eq. 11).
        conv_cfg (dict, optional): Config of every conv.
        norm_cfg (dict): Config of every norm, RLA norms included.
        norm_eval (bool): Keep every BN in eval mode. Default: False.
        with_cp (bool): Checkpoint each block with its RLA update.
        init_cfg (dict | list[dict], optional): Default: Kaiming convs, unit
            norms.
        hidden_act (str, optional): 'relu', 'relu6', 'tanh' or 'none' on the
            joined h; None: ``default_hidden_act``. Only with ``cat_hidden``.
        hidden_norm (bool): Normalise the joined h (``bn_hidden``).
        **rla_variant: The options of :class:`RLAVariant`, for families with
            ``takes_rla_variants``.
    """

    #: Smallest hidden width the family's blocks accept.
    min_rla_channel: int = 1
    #: Whether the close is an output of its own (index ``num_stages``).
    close_has_output: bool = False
    #: Whether the family takes the ablation options of the RLA update.
    takes_rla_variants: bool = False
    #: The family's activation of the joined hidden state.
    default_hidden_act: str = 'relu'
    #: Whether h joins before the close's layers (which then read it) or
    #: after them.
    join_before_close: bool = False

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
                 hidden_act: Optional[str] = None,
                 hidden_norm: bool = True,
                 **rla_variant):
        super().__init__(init_cfg=init_cfg or default_init_cfg())
        num_outputs = num_stages + int(self.close_has_output)
        self.num_stages = num_stages
        self.rla_channel = check_int('rla_channel', rla_channel,
                                     self.min_rla_channel)
        self.out_indices = check_indices(
            'out_indices',
            out_indices,
            num_outputs - 1,
            error=ValueAssertionError)
        self.frozen_stages = check_int('frozen_stages', frozen_stages, -1,
                                       num_outputs)
        self.cat_hidden = check_bool('cat_hidden', cat_hidden)
        self.in_channels = check_int('in_channels', in_channels, 1)
        self.rla_source = check_rla_source(rla_source)
        self.conv_cfg = check_type('conv_cfg', conv_cfg, (dict, type(None)))
        self.norm_cfg = check_type('norm_cfg', norm_cfg, dict)
        self.norm_eval = check_bool('norm_eval', norm_eval)
        self.with_cp = check_bool('with_cp', with_cp)
        unknown = sorted(set(rla_variant) - set(RLA_VARIANT_OPTIONS))
        if unknown:
            raise TypeError(f'{type(self).__name__}.__init__() got an '
                            f'unexpected keyword argument {unknown[0]!r}')
        self.variant = RLAVariant(**rla_variant)
        changed = self.variant.changed()
        if changed and not self.takes_rla_variants:
            raise ValueError(
                f'{type(self).__name__} does not offer the ablation options '
                f'of the RLA update, got {changed!r}; RLAResNet and '
                f'RLAPreActResNet do')
        if hidden_act is not None:
            check_choice('hidden_act', hidden_act, tuple(HIDDEN_ACTS))
        check_bool('hidden_norm', hidden_norm)
        if not cat_hidden and (hidden_act is not None or not hidden_norm):
            raise ValueError(
                f'hidden_act and hidden_norm shape the hidden state that '
                f'cat_hidden=True joins to the last output; with '
                f'cat_hidden=False nothing reads them, got '
                f'hidden_act={hidden_act!r}, hidden_norm={hidden_norm!r}')
        self.hidden_act = hidden_act or self.default_hidden_act
        self.hidden_norm_name = None
        self._hidden_norm = hidden_norm
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
        """Build the stem, the stages an output reads and, if read, the
        close with the join."""
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
                variant=self.variant,
                # Update h after the stage's last block only if something
                # reads it: the next stage, or the join.
                update_last=i < num_built - 1 or self.cat_hidden)
            name = f'layer{i + 1}'
            self.add_module(name, stage)
            self.stage_names.append(name)
            channels, reduction = spec.out_channels, reduction * spec.stride
            info.append(
                dict(num_chs=channels, reduction=reduction, module=name))
        if self.closed:
            if self.cat_hidden and self.join_before_close:
                channels += self._build_join()
            channels, module = self.make_close(channels)
            if self.cat_hidden and not self.join_before_close:
                channels += self._build_join()
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
        return self.rla_channel if self.variant.rla_exchange else 0

    # -- the classifier's join of the hidden state
    def _build_join(self) -> int:
        """Build the norm of the joined h (``bn_hidden`` for BN); return the
        channels the join adds (k)."""
        if self._hidden_norm:
            self.hidden_norm_name, norm = build_norm_layer(
                self.norm_cfg, self.rla_channel, postfix='_hidden')
            self.add_module(self.hidden_norm_name, norm)
        return self.rla_channel

    def join_hidden(self, x: Tensor, state) -> Tensor:
        """``cat[x, act(norm(h))]``, the classifier input (Sec. 3.3);
        ``state`` is h, or the LSTM's (h, c)."""
        h = hidden_of(state)
        if self.hidden_norm_name is not None:
            h = getattr(self, self.hidden_norm_name)(h)
        return torch.cat([x, HIDDEN_ACTS[self.hidden_act](h)], dim=1)

    # -- what each family writes
    @abstractmethod
    def make_stem(self) -> Tuple[int, int]:
        """Build the stem; return its output channels and its stride."""

    @abstractmethod
    def make_stage(self, index: int, in_channels: int) -> StageSpec:
        """Build the blocks of stage ``index`` that reads ``in_channels``."""

    def make_close(self, in_channels: int) -> Tuple[int, str]:
        """Build the family's layers after the last stage (called only when
        their output is read); return the output channels and the name of
        the module that produces the output. Default: none."""
        return in_channels, self.stage_names[-1]

    @abstractmethod
    def forward_stem(self, x: Tensor) -> Tensor:
        """Run the stem."""

    def forward_close(self, x: Tensor) -> Tensor:
        """Run the layers of :meth:`make_close`."""
        return x

    @abstractmethod
    def stem_modules(self) -> List[nn.Module]:
        """The stem's modules (frozen by ``frozen_stages >= 0``)."""

    def close_modules(self) -> List[nn.Module]:
        """The close's modules, frozen when its own output index is frozen."""
        return []

    # -- the frame
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
        hidden = HiddenState()
        outs = []
        for i, name in enumerate(self.stage_names):
            x = getattr(self, name)(x, hidden)
            if i in self.out_indices and i != self.close_index:
                outs.append(x)
        if self.closed:
            join = self.cat_hidden
            if join and self.join_before_close:
                x = self.join_hidden(x, hidden.value)
            x = self.forward_close(x)
            if join and not self.join_before_close:
                x = self.join_hidden(x, hidden.value)
            outs.append(x)
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
            if self.hidden_norm_name is not None:
                modules.append(getattr(self, self.hidden_norm_name))
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
