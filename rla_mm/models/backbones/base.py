"""What every RLA backbone shares: argument checks, freezing and ``norm_eval``."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from ...checkpoint import check_pretrained_file
from ..layers.rla_stage import init_hidden


def eca_kernel_sizes(eca: Union[bool, Sequence[int], None], num: int,
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
    if any(isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0
           for k in eca):
        raise ValueError(
            f'eca kernel sizes must be positive odd ints, got {tuple(eca)!r}')
    return tuple(eca)


def default_init_cfg() -> list:
    """Kaiming-normal convs and unit norms: the RLA backbones' default init."""
    return [
        dict(type='Kaiming', layer='Conv2d'),
        dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
    ]


def check_cat_hidden(cat_hidden: bool, out_indices: Tuple[int, ...],
                     last: int, rla_channel: int) -> None:
    """Refuse ``cat_hidden=True`` without a hidden state or a last-stage output.

    Args:
        cat_hidden (bool): Whether h joins the last stage output.
        out_indices (tuple[int]): The checked output indices.
        last (int): Index of the last stage.
        rla_channel (int): Hidden channels k (0: plain network).
    """
    if not cat_hidden:
        return
    if rla_channel == 0:
        raise ValueError('cat_hidden=True needs a hidden state, but '
                         'rla_channel=0 builds the plain network; set '
                         'cat_hidden=False')
    if last not in out_indices:
        raise ValueError(f'cat_hidden=True joins the hidden state to the last '
                         f'stage, so out_indices must contain {last}, got '
                         f'{out_indices!r}')


class RLABackbone(BaseModule):
    """Base of the RLA backbones: frozen parts and norms stay in eval mode.

    Subclasses set ``norm_eval`` and define ``frozen_modules()``, the modules
    that ``frozen_stages`` freezes.

    Args:
        init_cfg (dict | list[dict], optional): Initialization config.
    """

    norm_eval: bool = False
    in_channels: int = 3

    def _check_input(self, x: Tensor) -> None:
        """Refuse an input that is not (N, in_channels, H, W), naming its shape."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} expects a 4-D (N, C, H, W) input with '
                f'C = in_channels = {self.in_channels}, got shape '
                f'{tuple(x.shape)}')

    def _add_hidden_norm(self, norm_cfg: dict, rla_channel: int) -> None:
        """Add the norm on the final hidden state (``bn_hidden`` for BN)."""
        self.hidden_norm_name, norm = build_norm_layer(
            norm_cfg, rla_channel, postfix='_hidden')
        self.add_module(self.hidden_norm_name, norm)

    @property
    def hidden_norm(self) -> nn.Module:
        """Norm applied to the final hidden state before it joins x."""
        return getattr(self, self.hidden_norm_name)

    def _join_hidden(self, x: Tensor, h: Tensor) -> Tensor:
        """``cat[x, relu(hidden_norm(h))]``: the classifier's input (Sec. 3.3)."""
        return torch.cat([x, torch.relu(self.hidden_norm(h))], dim=1)

    def _freeze_stages(self) -> None:
        for m in self.frozen_modules():
            m.eval()
            for param in m.parameters():
                param.requires_grad = False

    def init_weights(self) -> None:
        check_pretrained_file(self.init_cfg)
        super().init_weights()

    def train(self, mode: bool = True) -> 'RLABackbone':
        """Set train mode, keeping frozen stages and (with norm_eval) norms in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


class RLAStemStagesBackbone(RLABackbone):
    """A stem, RLA stages ``layer1..n`` and a closing part after the last stage.

    The shared frame of the CIFAR backbones. Subclasses set ``res_layers``,
    ``out_indices``, ``rla_channel`` (0: plain), ``cat_hidden`` and
    ``frozen_stages``, and define ``stem_modules()``, ``_stem(x)`` and
    ``_close(x)`` (applied to the last stage output before h joins it).

    Args:
        init_cfg (dict | list[dict], optional): Initialization config.
    """

    def frozen_modules(self):
        """The stem and the first ``frozen_stages`` stages, RLA parts included."""
        modules = list(self.stem_modules()) if self.frozen_stages >= 0 else []
        return modules + [getattr(self, f'layer{i}')
                          for i in range(1, self.frozen_stages + 1)]

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Return the features of ``out_indices``; the last one is closed and,
        with ``cat_hidden``, joined with the hidden state."""
        self._check_input(x)
        x = self._stem(x)
        h = init_hidden(x, self.rla_channel) if self.rla_channel else None
        outs = []
        last = len(self.res_layers) - 1
        for i, name in enumerate(self.res_layers):
            x, h = getattr(self, name)(x, h)
            if i == last:
                x = self._close(x)
                if self.cat_hidden:
                    x = self._join_hidden(x, h)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
