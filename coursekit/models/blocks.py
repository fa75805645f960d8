"""Building blocks: the double convolution of UNet, residual blocks (He et al., 2016) and dense blocks
(Huang et al., 2017)."""

from __future__ import annotations

import torch
from torch import nn


class DoubleConv(nn.Module):
    """(conv 3x3 -> [batch norm] -> ReLU) twice. padding="same" keeps the size, "valid" loses 2 pixels per conv."""

    def __init__(self, in_channels: int, out_channels: int, padding: str = "same", batch_norm: bool = False):
        super().__init__()
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        p = 1 if padding == "same" else 0
        layers: list[nn.Module] = []
        for c_in in (in_channels, out_channels):
            layers.append(nn.Conv2d(c_in, out_channels, 3, padding=p, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class ResidualBlock(nn.Module):
    """out = ReLU(F(x) + shortcut(x)).

    basic: F = conv3x3-BN-ReLU-conv3x3-BN. bottleneck: F = conv1x1 (reduce to out_channels/4)-BN-ReLU-
    conv3x3-BN-ReLU-conv1x1 (expand)-BN. The shortcut is the identity, or a strided 1x1 conv + BN when the
    shape changes (stride > 1 or a different channel count).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, bottleneck: bool = False):
        super().__init__()
        if bottleneck:
            mid = max(1, out_channels // 4)
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
                nn.Conv2d(mid, mid, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(mid),
                nn.ReLU(inplace=True), nn.Conv2d(mid, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
                nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels))
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))
        else:
            self.shortcut = nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.residual(x) + self.shortcut(x))


class DenseBlock(nn.Module):
    """num_layers layers, each BN-ReLU-conv3x3 producing growth_rate channels from the concatenation of the
    block's input and every earlier layer's output; the block returns that whole concatenation
    (in_channels + num_layers * growth_rate channels). bottleneck adds BN-ReLU-conv1x1 (4 * growth_rate) first.
    """

    def __init__(self, in_channels: int, growth_rate: int, num_layers: int, bottleneck: bool = False):
        super().__init__()
        self.layers = nn.ModuleList()
        for i in range(num_layers):
            c = in_channels + i * growth_rate
            layer: list[nn.Module] = []
            if bottleneck:
                layer += [nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, 4 * growth_rate, 1, bias=False)]
                c = 4 * growth_rate
            layer += [nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, growth_rate, 3, padding=1, bias=False)]
            self.layers.append(nn.Sequential(*layer))
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return torch.cat(features, dim=1)
