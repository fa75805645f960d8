"""UNet (Ronneberger, Fischer & Brox, 2015).

An encoder of double convolutions and 2x2 max pools records a feature map at every scale; a decoder
up-samples, joins the recorded map of the same scale (centre-cropped in the paper's unpadded version) and
applies another double convolution; a 1x1 convolution maps to the output channels.

padding="valid" is the paper's network: every 3x3 convolution is unpadded, so a 572x572 input gives a 388x388
output and the skips are cropped. padding="same" keeps the input size, whatever it is: where a 2x2 pool drops
the last row or column of an odd-sized map, the decoder pads its up-sampled map back to the skip's size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import DoubleConv


def center_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    top, left = (x.shape[-2] - height) // 2, (x.shape[-1] - width) // 2
    return x[..., top: top + height, left: left + width]


class Up(nn.Module):
    """Up-sample by 2 (transposed conv, or bilinear + 1x1 conv), join the skip, double conv."""

    def __init__(self, in_channels: int, out_channels: int, padding: str, batch_norm: bool, mode: str):
        super().__init__()
        if mode == "transpose":
            self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        elif mode == "bilinear":
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                    nn.Conv2d(in_channels, out_channels, 1))
        else:
            raise ValueError(f"up_mode must be 'transpose' or 'bilinear', got {mode!r}")
        self.conv = DoubleConv(2 * out_channels, out_channels, padding, batch_norm)
        self.padding = padding

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        if self.padding == "valid":
            skip = center_crop(skip, x.shape[-2], x.shape[-1])  # the paper: the skip is larger, crop it
        else:
            # an odd-sized skip lost its last row/column to the pool: give the up-sampled map that row back
            dh, dw = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
            if dh or dw:
                x = F.pad(x, [dw // 2, dw - dw // 2, dh // 2, dh - dh // 2])
        return self.conv(torch.cat([skip, x], dim=1))


class UNet(nn.Module):
    def __init__(self, in_channels: int = 1, out_channels: int = 1, base_channels: int = 64, depth: int = 4,
                 padding: str = "same", batch_norm: bool = False, up_mode: str = "transpose"):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.depth, self.padding = depth, padding
        widths = [base_channels * 2 ** i for i in range(depth + 1)]   # 64, 128, 256, 512, 1024
        self.encoder = nn.ModuleList([DoubleConv(c_in, c_out, padding, batch_norm)
                                      for c_in, c_out in zip([in_channels] + widths[:-2], widths[:-1])])
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(widths[-2], widths[-1], padding, batch_norm)
        self.decoder = nn.ModuleList([Up(widths[i + 1], widths[i], padding, batch_norm, up_mode)
                                      for i in reversed(range(depth))])
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_size(x)
        skips = []
        for down in self.encoder:              # contracting path: record each scale, then halve it
            x = down(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, skip in zip(self.decoder, reversed(skips)):   # expanding path: double, join, convolve
            x = up(x, skip)
        return self.head(x)

    def _check_size(self, x: torch.Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f"UNet expects (N, C, H, W), got shape {tuple(x.shape)}")
        for n in x.shape[-2:]:
            if self.padding == "same" and n < 2 ** self.depth:
                raise ValueError(f"with padding='same' the input must be at least 2**depth = {2 ** self.depth} "
                                 f"pixels in each direction (depth={self.depth} halvings), got "
                                 f"{tuple(x.shape[-2:])}")
            if self.padding == "valid" and self.output_size(n) < 1:
                raise ValueError(f"input size {n} is too small for an unpadded UNet of depth {self.depth}")

    def output_size(self, n: int) -> int:
        """Spatial output size for input size n (n itself with 'same' padding)."""
        if self.padding == "same":
            return n
        for _ in range(self.depth):
            n = n - 4
            if n < 2 or n % 2:
                return 0
            n //= 2
        n -= 4
        for _ in range(self.depth):
            n = 2 * n - 4
        return n if n > 0 else 0
