"""Gated recurrent cells for the RLA update (the paper's Table 6 (d) ablation).

The RLA update of Eq. 11 uses one 3x3 conv as its recurrent cell. The ablations
replace it by a convolutional LSTM or GRU cell that reads the stage's
contribution ``u_t = tanh(BN_t(O(y_t)))`` as its input and carries its own
state: the LSTM a cell state ``c`` beside ``h``. Gate layouts follow the
authors' ablation code so that their checkpoints load: the LSTM's one conv
gives the input, forget, output and candidate gates in that order; the GRU's
gate conv gives the reset and update gates, each group-normalised, and its
output conv reads ``[u, r * h]``.
"""
from typing import Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer
from torch import Tensor


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM cell (Shi et al., 2015) without peepholes or bias.

    ``[i, f, o, g] = conv([u, h])``;
    ``c' = sigmoid(f) c + sigmoid(i) tanh(g)``; ``h' = sigmoid(o) tanh(c')``.

    Args:
        channels (int): Channels of the input u, of h and of c (k).
        kernel_size (int): Odd kernel size of the gate conv. Default: 3.
        conv_cfg (dict, optional): Conv config. Default: None (Conv2d).
    """

    def __init__(self, channels: int, kernel_size: int = 3, conv_cfg=None):
        super().__init__()
        self.channels = channels
        self.conv = build_conv_layer(
            conv_cfg,
            2 * channels,
            4 * channels,
            kernel_size,
            padding=kernel_size // 2,
            bias=False)

    def forward(self, u: Tensor,
                state: Tuple[Tensor, Tensor]) -> Tuple[Tensor, Tensor]:
        h, c = state
        i, f, o, g = self.conv(torch.cat([u, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class ConvGRUCell(nn.Module):
    """Convolutional GRU cell with group-normalised gates and output.

    ``[r, z] = sigmoid(GN(conv_g([u, h])))`` (per gate);
    ``n = tanh(GN(conv_o([u, r * h])))``; ``h' = z h + (1 - z) n``.

    Args:
        channels (int): Channels of the input u and of h (k).
        kernel_size (int): Odd kernel size of both convs. Default: 3.
        conv_cfg (dict, optional): Conv config. Default: None (Conv2d).
    """

    def __init__(self, channels: int, kernel_size: int = 3, conv_cfg=None):
        super().__init__()
        self.channels = channels
        pad = kernel_size // 2
        self.gate_conv = build_conv_layer(
            conv_cfg,
            2 * channels,
            2 * channels,
            kernel_size,
            padding=pad,
            bias=True)
        self.reset_gate_norm = nn.GroupNorm(1, channels, eps=1e-6)
        self.update_gate_norm = nn.GroupNorm(1, channels, eps=1e-6)
        self.output_conv = build_conv_layer(
            conv_cfg,
            2 * channels,
            channels,
            kernel_size,
            padding=pad,
            bias=True)
        self.output_norm = nn.GroupNorm(1, channels, eps=1e-6)

    def forward(self, u: Tensor, h: Tensor) -> Tensor:
        r, z = self.gate_conv(torch.cat([u, h], dim=1)).chunk(2, dim=1)
        r = torch.sigmoid(self.reset_gate_norm(r))
        z = torch.sigmoid(self.update_gate_norm(z))
        n = torch.tanh(
            self.output_norm(self.output_conv(torch.cat([u, r * h], dim=1))))
        return z * h + (1 - z) * n


def build_rla_cell(cell: str, channels: int, conv_cfg=None) -> nn.Module:
    """The recurrent part R of the RLA update for ``rla_cell=cell``.

    Args:
        cell (str): 'conv' (a 3x3 conv k -> k without bias, Eq. 11), 'lstm'
            or 'gru'.
        channels (int): Hidden channels k.
        conv_cfg (dict, optional): Conv config.
    """
    if cell == 'lstm':
        return ConvLSTMCell(channels, conv_cfg=conv_cfg)
    if cell == 'gru':
        return ConvGRUCell(channels, conv_cfg=conv_cfg)
    return build_conv_layer(
        conv_cfg, channels, channels, kernel_size=3, padding=1, bias=False)


__all__ = ['ConvLSTMCell', 'ConvGRUCell', 'build_rla_cell']
