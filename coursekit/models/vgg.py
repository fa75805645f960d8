"""VGG (Simonyan & Zisserman, 2015) with torchvision's module layout.

``features`` is the conv/ReLU/max-pool stack of a configuration, ``avgpool`` an adaptive average pool to 7x7 and
``classifier`` the three fully connected layers at indices 0, 3 and 6, so ``state_dict()`` keys and shapes are
exactly torchvision's (``features.N.weight``, ``classifier.0.weight`` ...) and an ImageNet checkpoint saved by
torchvision loads unchanged:

    model = vgg16()
    model.load_state_dict(torch.load("vgg16-397923af.pth"))   # torchvision.models.vgg16(weights=...) file

``vgg_small`` is a narrow VGG-style network for CPU work on small images (same building blocks).
"""

from __future__ import annotations

import torch
from torch import nn

CFGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],                              # VGG11
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],                     # VGG13
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],      # VGG16
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_features(cfg, batch_norm: bool = False, in_channels: int = 3) -> nn.Sequential:
    layers: list[nn.Module] = []
    c = in_channels
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.Conv2d(c, v, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            c = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG for a configuration (a list of channel counts and "M" for 2x2 max pools, or a key of CFGS)."""

    def __init__(self, cfg, num_classes: int = 1000, batch_norm: bool = False, init_weights: bool = True,
                 dropout: float = 0.5, in_channels: int = 3, hidden: int = 4096, pool_size: int = 7):
        super().__init__()
        cfg = CFGS[cfg] if isinstance(cfg, str) else list(cfg)
        last = [v for v in cfg if v != "M"][-1]
        self.features = make_features(cfg, batch_norm, in_channels)
        self.avgpool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        self.classifier = nn.Sequential(
            nn.Linear(last * pool_size * pool_size, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(hidden, num_classes),
        )
        if init_weights:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        """torchvision's initialisation: He (fan-out) for convs, N(0, 0.01) for linear layers."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        return self.classifier(torch.flatten(x, 1))


def _vgg(cfg):
    def build(batch_norm: bool = False, num_classes: int = 1000, **kwargs) -> VGG:
        return VGG(cfg, num_classes=num_classes, batch_norm=batch_norm, **kwargs)

    return build


vgg11, vgg13, vgg16, vgg19 = _vgg("A"), _vgg("B"), _vgg("D"), _vgg("E")
for _name, _fn in (("vgg11", vgg11), ("vgg13", vgg13), ("vgg16", vgg16), ("vgg19", vgg19)):
    _fn.__name__ = _name
    _fn.__doc__ = f"{_name.upper()} with torchvision's layout; takes batch_norm= and num_classes=."


def vgg_small(num_classes: int = 10, in_channels: int = 1, batch_norm: bool = True, width: int = 16,
              dropout: float = 0.3) -> VGG:
    """A narrow VGG-style network for 32x32 images on a CPU: 3 stages of two 3x3 convs, 2x2 global pool."""
    cfg = [width, width, "M", 2 * width, 2 * width, "M", 4 * width, 4 * width, "M"]
    return VGG(cfg, num_classes=num_classes, batch_norm=batch_norm, dropout=dropout, in_channels=in_channels,
               hidden=8 * width, pool_size=2)
