"""Two segmentation networks UNet is compared with in Lecture 5, built on VGG16's convolutions so their costs
can be counted with `coursekit.arithmetic.summary`.

FCN8s (Long, Shelhamer & Darrell, 2015): VGG16 with its fully connected layers turned into convolutions (fc6 a
7x7 convolution, fc7 and the classifier 1x1), class scores at 1/32 of the input, refined by *adding* scores
predicted from pool4 (1/16) and pool3 (1/8), then up-sampled 8x by a transposed convolution.

SegNet (Badrinarayanan, Kendall & Cipolla, 2017): VGG16's 13 convolutions (with batch norm) as encoder, a
mirrored decoder that up-samples with the encoder's max-pooling *indices* (nn.MaxUnpool2d) instead of learned
up-convolutions or copied feature maps.
"""

from __future__ import annotations

import torch
from torch import nn

from .vgg import CFGS, make_features

__all__ = ["FCN8s", "SegNet"]


class FCN8s(nn.Module):
    """Takes (N, 3, H, W) with H, W multiples of 32 and at least 224; returns (N, num_classes, H, W) scores."""

    def __init__(self, num_classes: int = 21):
        super().__init__()
        features = make_features(CFGS["D"])
        pools = [i for i, m in enumerate(features) if isinstance(m, nn.MaxPool2d)]
        self.to_pool3 = features[: pools[2] + 1]               # 256 channels, 1/8
        self.to_pool4 = features[pools[2] + 1: pools[3] + 1]   # 512 channels, 1/16
        self.to_pool5 = features[pools[3] + 1:]                # 512 channels, 1/32
        self.fc6 = nn.Sequential(nn.Conv2d(512, 4096, 7, padding=3), nn.ReLU(inplace=True))   # VGG's fc6 as conv
        self.fc7 = nn.Sequential(nn.Conv2d(4096, 4096, 1), nn.ReLU(inplace=True))
        self.score32 = nn.Conv2d(4096, num_classes, 1)
        self.score16 = nn.Conv2d(512, num_classes, 1)
        self.score8 = nn.Conv2d(256, num_classes, 1)
        self.up2_32 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, padding=1, bias=False)
        self.up2_16 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, padding=1, bias=False)
        self.up8 = nn.ConvTranspose2d(num_classes, num_classes, 16, stride=8, padding=4, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[-2] % 32 or x.shape[-1] % 32:
            raise ValueError(f"FCN8s expects (N, 3, H, W) with H and W multiples of 32, got {tuple(x.shape)}")
        pool3 = self.to_pool3(x)
        pool4 = self.to_pool4(pool3)
        scores = self.score32(self.fc7(self.fc6(self.to_pool5(pool4))))
        scores = self.up2_32(scores) + self.score16(pool4)     # skips are added, not concatenated
        scores = self.up2_16(scores) + self.score8(pool3)
        return self.up8(scores)


class SegNet(nn.Module):
    """Encoder: VGG16-BN's five conv stages, each ending in a 2x2 max pool that records where each maximum was.
    Decoder: the mirror image; each stage un-pools with those indices (a sparse map, zeros elsewhere) and
    convolves. Takes (N, in_channels, H, W) with H, W multiples of 32."""

    STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))

    def __init__(self, in_channels: int = 3, num_classes: int = 2):
        super().__init__()

        def stage(c_in, widths):
            layers = []
            for w in widths:
                layers += [nn.Conv2d(c_in, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
                c_in = w
            return nn.Sequential(*layers)

        self.encoder = nn.ModuleList()
        c = in_channels
        for widths in self.STAGES:
            self.encoder.append(stage(c, widths))
            c = widths[-1]
        self.decoder = nn.ModuleList()
        for i, widths in reversed(list(enumerate(self.STAGES))):
            # mirror: the stage's widths reversed, ending at the previous stage's width (64 for the last)
            out = self.STAGES[i - 1][-1] if i > 0 else 64
            self.decoder.append(stage(c, list(widths[:-1]) + [out]))
            c = out
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2)
        self.head = nn.Conv2d(64, num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[-2] % 32 or x.shape[-1] % 32:
            raise ValueError(f"SegNet expects (N, C, H, W) with H and W multiples of 32, got {tuple(x.shape)}")
        indices = []
        for down in self.encoder:
            x, where = self.pool(down(x))
            indices.append(where)
        for up, where in zip(self.decoder, reversed(indices)):
            x = up(self.unpool(x, where))
        return self.head(x)
