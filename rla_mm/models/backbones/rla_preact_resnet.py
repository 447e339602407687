"""Pre-activation RLA-ResNets for CIFAR (paper Sec. 4.1, Tables 2, 7, 8).

RLA-ResNet-110 (basic blocks, k = 4) and RLA-ResNet-164 (bottlenecks, k = 12) on
32x32 inputs. Blocks are BN-ReLU-Conv; the hidden state is concatenated to x at the
block input, so the first BN of every branch sees C_in + k channels (Eq. 11 with
F_t starting with its pre-activation). ``rla_channel=0`` builds the plain
pre-activation ResNet of He et al. (2016) with the same stages, the baseline.
"""
from typing import Optional, Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from ...checks import check_indices, check_int
from ...registry import register_model
from ..layers import RLAStage, check_rla_source, concat_hidden
from .base import RLAStemStagesBackbone, check_cat_hidden, default_init_cfg


class RLAPreActBasicBlock(BaseModule):
    """Pre-activation basic block: BN-ReLU-3x3, BN-ReLU-3x3, on [x, h].

    Args:
        inplanes (int): Input channels of x.
        planes (int): Output channels.
        rla_channel (int): Hidden channels k joined to x (0: plain block).
        stride (int): Stride of the first conv. Default: 1.
        downsample (nn.Module, optional): Shortcut projection.
        conv_cfg (dict, optional): Conv config.
        norm_cfg (dict): Norm config. Default: BN.
        init_cfg (dict, optional): Initialization config.
    """
    expansion = 1

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 rla_channel: int,
                 stride: int = 1,
                 downsample: Optional[nn.Module] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.norm1 = build_norm_layer(norm_cfg, inplanes + rla_channel)[1]
        self.conv1 = build_conv_layer(conv_cfg, inplanes + rla_channel, planes,
                                      3, stride=stride, padding=1, bias=False)
        self.norm2 = build_norm_layer(norm_cfg, planes)[1]
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3, padding=1,
                                      bias=False)
        self.downsample = downsample

    def forward(self, x: Tensor, h: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.conv1(F.relu(self.norm1(concat_hidden(x, h))))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + identity, out


class RLAPreActBottleneck(BaseModule):
    """Pre-activation bottleneck: BN-ReLU-1x1, BN-ReLU-3x3 (stride), BN-ReLU-1x1.

    Args:
        inplanes (int): Input channels of x.
        planes (int): Base channels; the output has ``planes * 4``.
        rla_channel (int): Hidden channels k joined to x (0: plain block).
        stride (int): Stride of the 3x3 conv. Default: 1.
        downsample (nn.Module, optional): Shortcut projection.
        conv_cfg (dict, optional): Conv config.
        norm_cfg (dict): Norm config. Default: BN.
        init_cfg (dict, optional): Initialization config.
    """
    expansion = 4

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 rla_channel: int,
                 stride: int = 1,
                 downsample: Optional[nn.Module] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.norm1 = build_norm_layer(norm_cfg, inplanes + rla_channel)[1]
        self.conv1 = build_conv_layer(conv_cfg, inplanes + rla_channel, planes,
                                      1, bias=False)
        self.norm2 = build_norm_layer(norm_cfg, planes)[1]
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3,
                                      stride=stride, padding=1, bias=False)
        self.norm3 = build_norm_layer(norm_cfg, planes)[1]
        self.conv3 = build_conv_layer(conv_cfg, planes, planes * 4, 1,
                                      bias=False)
        self.downsample = downsample

    def forward(self, x: Tensor, h: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.conv1(F.relu(self.norm1(concat_hidden(x, h))))
        out = self.conv2(F.relu(self.norm2(out)))
        out = self.conv3(F.relu(self.norm3(out)))
        return out + identity, out


@register_model()
class RLAPreActResNet(RLAStemStagesBackbone):
    """Pre-activation (RLA-)ResNet for 32x32 images (CIFAR).

    A 3x3 stem conv (16 channels), three stages of ``(depth - 2) / 6`` basic blocks
    or ``(depth - 2) / 9`` bottlenecks at 16, 32, 64 base channels (strides 1, 2,
    2), then the final BN-ReLU of pre-activation networks. With RLA, h starts at
    zero after the stem and the last stage's output is
    ``cat[relu(bn(x)), relu(bn_hidden(h))]``.

    Args:
        depth (int): 20, 32, 44, 56, 110 (basic) or 164, 1001 (bottleneck).
        rla_channel (int): Hidden channels k; 0 builds the plain network.
            Default: 12 (the paper uses 4 for depth 110).
        in_channels (int): Input channels. Default: 3.
        base_channels (int): Channels of the stem and the first stage.
            Default: 16.
        out_indices (Sequence[int]): Stages to return (0-2). Default: (2, ).
        rla_source (str): 'branch' (Eq. 11) or 'output'. Default: 'branch'.
        cat_hidden (bool): Concatenate relu(bn(h)) to the last stage output.
            Default: True (needs ``rla_channel > 0``).
        frozen_stages (int): Freeze the stem and this many stages (-1: none).
            Default: -1.
        conv_cfg (dict, optional): Conv config. Default: None.
        norm_cfg (dict): Norm config of every norm. Default: BN.
        norm_eval (bool): Keep norms in eval mode while training.
            Default: False.
        with_cp (bool): Activation checkpointing per block. Default: False.
        init_cfg (dict | list[dict], optional): Initialization config.

    Example:
        >>> import torch
        >>> from rla_mm.models import RLAPreActResNet
        >>> model = RLAPreActResNet(depth=164).eval()
        >>> print(tuple(model(torch.rand(1, 3, 32, 32))[0].shape))
        (1, 268, 8, 8)
    """

    arch_settings = {
        20: (RLAPreActBasicBlock, 3),
        32: (RLAPreActBasicBlock, 5),
        44: (RLAPreActBasicBlock, 7),
        56: (RLAPreActBasicBlock, 9),
        110: (RLAPreActBasicBlock, 18),
        164: (RLAPreActBottleneck, 18),
        1001: (RLAPreActBottleneck, 111),
    }
    num_stages = 3

    def __init__(self,
                 depth: int,
                 rla_channel: int = 12,
                 in_channels: int = 3,
                 base_channels: int = 16,
                 out_indices: Sequence[int] = (2, ),
                 rla_source: str = 'branch',
                 cat_hidden: bool = True,
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg or default_init_cfg())
        if depth not in self.arch_settings:
            raise ValueError(f'invalid depth {depth!r} for RLAPreActResNet, '
                             f'expected one of {tuple(self.arch_settings)}')
        check_int('rla_channel', rla_channel, 0)
        check_int('in_channels', in_channels, 1)
        check_int('base_channels', base_channels, 1)
        check_rla_source(rla_source)
        last = self.num_stages - 1
        out_indices = check_indices('out_indices', out_indices, last)
        check_cat_hidden(cat_hidden, out_indices, last, rla_channel)
        check_int('frozen_stages', frozen_stages, -1, self.num_stages)
        block, num_blocks = self.arch_settings[depth]

        self.depth = depth
        self.in_channels = in_channels
        self.rla_channel = rla_channel
        self.out_indices = out_indices
        self.cat_hidden = cat_hidden
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.conv1 = build_conv_layer(conv_cfg, in_channels, base_channels, 3,
                                      padding=1, bias=False)
        inplanes = base_channels
        self.res_layers = []
        for i in range(self.num_stages):
            planes = base_channels * 2**i
            out_channels = planes * block.expansion
            stride = 1 if i == 0 else 2
            blocks = []
            for b in range(num_blocks):
                downsample = None
                if b == 0 and (stride != 1 or inplanes != out_channels):
                    downsample = build_conv_layer(
                        conv_cfg, inplanes, out_channels, 1, stride=stride,
                        bias=False)
                blocks.append(
                    block(inplanes if b == 0 else out_channels, planes,
                          rla_channel, stride=stride if b == 0 else 1,
                          downsample=downsample, conv_cfg=conv_cfg,
                          norm_cfg=norm_cfg))
            stage = RLAStage(
                blocks,
                out_channels=out_channels,
                rla_channels=rla_channel,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                rla_source=rla_source,
                # Nothing reads the final hidden state unless it joins the
                # classifier: skip that update (no unused parameters in DDP).
                update_last=cat_hidden or i < last,
                with_cp=with_cp)
            self.add_module(f'layer{i + 1}', stage)
            self.res_layers.append(f'layer{i + 1}')
            inplanes = out_channels
        self.final_norm = build_norm_layer(norm_cfg, inplanes)[1]
        self.feat_dim = inplanes + (rla_channel if cat_hidden else 0)
        if cat_hidden:
            self._add_hidden_norm(norm_cfg, rla_channel)
        self._freeze_stages()

    def stem_modules(self):
        return [self.conv1]

    def _stem(self, x: Tensor) -> Tensor:
        return self.conv1(x)

    def _close(self, x: Tensor) -> Tensor:
        """The final BN-ReLU of pre-activation networks."""
        return F.relu(self.final_norm(x))
