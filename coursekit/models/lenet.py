"""LeNet-5 (LeCun et al., 1998) with today's defaults: ReLU and max pooling instead of tanh and subsampling."""

from __future__ import annotations

import torch
from torch import nn


class LeNet5(nn.Module):
    """Conv2d 5x5 (6) - MaxPool2d - Conv2d 5x5 (16) - MaxPool2d - Linear 120 - Linear 84 - Linear num_classes.

    Takes (N, in_channels, 28, 28) images: the first convolution pads by 2, so 28x28 digits meet the 32x32
    geometry of the paper (feature maps 28 -> 14 -> 10 -> 5).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),   # 6 x 14 x 14
            nn.Conv2d(6, 16, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),                      # 16 x 5 x 5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(inplace=True), nn.Linear(120, 84),
            nn.ReLU(inplace=True), nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (28, 28):
            raise ValueError(f"LeNet5 expects (N, C, 28, 28) images, got shape {tuple(x.shape)}")
        return self.classifier(self.features(x))
