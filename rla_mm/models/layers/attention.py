"""Channel attention used inside RLA blocks: ECA and SE."""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ...checks import check_int, check_odd


class ECALayer(nn.Module):
    """Efficient channel attention (Wang et al., CVPR 2020).

    A 1-D convolution over the pooled channel descriptor, then a sigmoid gate.

    Args:
        kernel_size (int): Odd size of the 1-D kernel across channels.
    """

    def __init__(self, kernel_size: int):
        super().__init__()
        check_odd('ECA kernel_size', kernel_size)
        self.conv = nn.Conv1d(
            1, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        n, c = x.shape[:2]
        w = F.adaptive_avg_pool2d(x, 1).view(n, 1, c)
        w = self.conv(w).view(n, c, 1, 1)
        return x * w.sigmoid()


class SELayer(nn.Module):
    """Squeeze-and-excitation (Hu et al., CVPR 2018) with bias-free linear
    layers.

    Args:
        channels (int): Channels of the input.
        reduction (int): Ratio of the bottleneck of the gate.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        check_int(f'the SE reduction (se, se_ratio) of {channels} channels',
                  reduction, 1, channels)
        self.fc1 = nn.Linear(channels, channels // reduction, bias=False)
        self.fc2 = nn.Linear(channels // reduction, channels, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        n, c = x.shape[:2]
        w = F.adaptive_avg_pool2d(x, 1).view(n, c)
        w = self.fc2(F.relu(self.fc1(w), inplace=True)).view(n, c, 1, 1)
        return x * w.sigmoid()
