"""VGG (Simonyan & Zisserman, 2015) with torchvision's module layout.

``features`` is the conv/ReLU/max-pool stack of a configuration, ``avgpool`` an adaptive average pool to 7x7 and
``classifier`` the three fully connected layers at indices 0, 3 and 6, so ``state_dict()`` keys and shapes are
exactly torchvision's (``features.N.weight``, ``classifier.0.weight`` ...) and an ImageNet checkpoint saved by
torchvision loads unchanged:

    model = vgg16()
    model.load_state_dict(torch.load("vgg16-397923af.pth"))   # torchvision.models.vgg16(weights=...) file

``vgg_small`` is a narrow VGG-style network for CPU work on small images (same building blocks).

ImageNet weights without a download: the package ships the convolutions of VGG16's first three blocks
(``features.0`` to ``features.16``, 3.5 MB in fp16), converted by ``scripts/build_imagenet_assets.py`` from the
Keras port of the original Oxford weights. One API gives them:

    backbone = vgg16_features(weights="imagenet")           # nn.Sequential, torchvision's vgg16().features[:17]
    codes = pooled_features(backbone, caffe_preprocess(images, size=32))    # (N, 512) CNN codes

``vgg16(weights="imagenet")`` refuses with a message naming what is not shipped (blocks 4-5, the classifier);
``vgg16(weights=path)`` and ``vgg16_features(weights=path)`` read torchvision's checkpoint file when you have one.
The network expects Caffe-style input: BGR channel order, 0-255 scale, minus the ImageNet mean per channel
(``caffe_preprocess``).
"""

from __future__ import annotations

import os
from importlib import resources

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

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


vgg11, vgg13, vgg19 = _vgg("A"), _vgg("B"), _vgg("E")
for _name, _fn in (("vgg11", vgg11), ("vgg13", vgg13), ("vgg19", vgg19)):
    _fn.__name__ = _name
    _fn.__doc__ = f"{_name.upper()} with torchvision's layout; takes batch_norm= and num_classes=."


# --- VGG16 with ImageNet weights --------------------------------------------------------------------------------

IMAGENET_WEIGHTS = "vgg16_imagenet_features.npz"
# Caffe's ImageNet mean in BGR order, the preprocessing the original VGG16 weights were trained with.
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)
VGG16_BLOCK_ENDS = (4, 9, 16, 23, 30)   # index of each block's max pool in vgg16().features


def caffe_preprocess(images, size: int | None = None) -> torch.Tensor:
    """Images in [0, 1] -> the input the ImageNet VGG16 expects: BGR, 0-255, minus IMAGENET_MEAN_BGR.

    images: (N, 1, H, W) grey or (N, 3, H, W) RGB, float in [0, 1] (tensor or array); grey is repeated to three
    channels. size: resize (bilinear) to size x size first; None keeps H x W.
    Returns float32 (N, 3, size, size).
    """
    x = torch.as_tensor(images, dtype=torch.float32)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape (N, 1 or 3, H, W), got {tuple(x.shape)}")
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN_BGR, dtype=torch.float32).view(1, 3, 1, 1)
    return x.flip(1) * 255.0 - mean


def _imagenet_state() -> dict[str, torch.Tensor]:
    """The shipped fp16 convolutions as float32 tensors, keyed like torchvision's vgg16().state_dict()."""
    with resources.as_file(resources.files("coursekit.models") / "weights" / IMAGENET_WEIGHTS) as path:
        if not path.is_file():
            raise FileNotFoundError(f"{IMAGENET_WEIGHTS} is missing from the coursekit package; rebuild it with "
                                    "python scripts/build_imagenet_assets.py")
        with np.load(path, allow_pickle=False) as archive:
            return {key: torch.from_numpy(archive[key].astype(np.float32)) for key in archive.files}


def _shipped_blocks(state: dict) -> int:
    """How many whole VGG16 blocks (every convolution present) a features.* state dict covers, from block 1."""
    blocks, start = 0, 0
    for end in VGG16_BLOCK_ENDS:
        if not all(f"features.{i}.weight" in state for i in range(start, end, 2)):
            break
        blocks, start = blocks + 1, end + 1
    return blocks


def _read_checkpoint(path) -> dict[str, torch.Tensor]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"weights file {path} holds a {type(state).__name__}, not a state dict")
    return state


def _load_strict(module: nn.Module, state: dict, source: str, prefix: str = "") -> None:
    """load_state_dict(strict) with a ValueError that names keys as the file spells them (prefix + key)."""
    own = module.state_dict()
    missing = [prefix + k for k in own if k not in state]
    unexpected = [prefix + k for k in state if k not in own]
    shapes = [f"{prefix}{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in own
              if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        raise ValueError(f"{source} does not fit this network: missing {missing or 'nothing'}, unexpected "
                         f"{unexpected or 'nothing'}, shape mismatches {shapes or 'none'}")
    module.load_state_dict(state)


def vgg16(batch_norm: bool = False, num_classes: int = 1000, weights=None, **kwargs) -> VGG:
    """VGG16 with torchvision's layout; takes batch_norm= and num_classes=.

    weights: None (random, torchvision's initialisation) or a path to a checkpoint in torchvision's layout (e.g.
    torchvision's own vgg16-397923af.pth), loaded strictly. "imagenet" is refused: the package ships only the
    first blocks' convolutions, not the whole network; use vgg16_features(weights="imagenet").
    """
    if weights == "imagenet":
        shipped = _shipped_blocks(_imagenet_state())
        raise ValueError(
            f"weights='imagenet' ships only VGG16's first {shipped} blocks (features.0 to "
            f"features.{VGG16_BLOCK_ENDS[shipped - 1]}); the full vgg16 also needs features."
            f"{VGG16_BLOCK_ENDS[shipped - 1] + 1} to features.30 (blocks {shipped + 1}-5) and classifier.0/3/6, "
            "which are not shipped. For the shipped feature extractor call vgg16_features(weights='imagenet'); "
            "for the whole network pass torchvision's checkpoint file as weights=path.")
    model = VGG("D", num_classes=num_classes, batch_norm=batch_norm, **kwargs)
    if weights is not None:
        if not isinstance(weights, (str, os.PathLike)):
            raise ValueError(f"weights must be None, 'imagenet' or a checkpoint path, got {type(weights).__name__}")
        _load_strict(model, _read_checkpoint(weights), f"weights file {weights}")
    return model


def vgg16_features(weights="imagenet", num_blocks: int | None = None) -> nn.Sequential:
    """The first num_blocks blocks of VGG16's convolutional base, exactly torchvision's vgg16().features[:k].

    weights: "imagenet" (the shipped convolutions; num_blocks at most the shipped count, 3), None (random,
    torchvision's initialisation) or a path to a torchvision-layout VGG16 checkpoint (its features.* entries).
    num_blocks: 1-5, each block ending with its max pool; None means every block the weights cover.
    Returns nn.Sequential whose state_dict keys are torchvision's "features.N.*" without the "features." prefix;
    input (N, 3, H, W) Caffe-preprocessed (caffe_preprocess), output (N, C, H / 2**k, W / 2**k).
    """
    if weights == "imagenet":
        state = _imagenet_state()
        shipped = _shipped_blocks(state)
        if num_blocks is None:
            num_blocks = shipped
        if isinstance(num_blocks, int) and shipped < num_blocks <= 5:
            first, end = VGG16_BLOCK_ENDS[shipped - 1] + 1, VGG16_BLOCK_ENDS[num_blocks - 1]
            missing = f"block {num_blocks}" if num_blocks == shipped + 1 else f"blocks {shipped + 1}-{num_blocks}"
            raise ValueError(f"num_blocks={num_blocks}: the shipped ImageNet weights cover blocks 1-{shipped} "
                             f"(features.0 to features.{VGG16_BLOCK_ENDS[shipped - 1]}); features.{first} to "
                             f"features.{end} ({missing}) are not shipped. Use "
                             f"num_blocks<={shipped}, or weights=path with torchvision's checkpoint file.")
    elif weights is None:
        state = None
    elif isinstance(weights, (str, os.PathLike)):
        state = _read_checkpoint(weights)
    else:
        raise ValueError(f"weights must be 'imagenet', None or a checkpoint path, got {type(weights).__name__}")
    if num_blocks is None:
        num_blocks = 5
    if not isinstance(num_blocks, int) or not 1 <= num_blocks <= 5:
        raise ValueError(f"num_blocks must be an integer from 1 to 5, got {num_blocks!r}")
    full = VGG("D", num_classes=1, init_weights=weights is None).features
    features = full[:VGG16_BLOCK_ENDS[num_blocks - 1] + 1]
    if state is not None:
        wanted = {key.removeprefix("features."): value for key, value in state.items()
                  if key.startswith("features.") and int(key.split(".")[1]) <= VGG16_BLOCK_ENDS[num_blocks - 1]}
        source = "the shipped ImageNet weights" if weights == "imagenet" else f"weights file {weights}"
        _load_strict(features, wanted, source, prefix="features.")
    return features


@torch.no_grad()
def pooled_features(backbone: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """CNN codes: the backbone's feature maps, global average- and max-pooled, side by side.

    images: (N, 3, H, W) already preprocessed for the backbone. Runs in eval mode without building a graph.
    Returns float32 (N, 2C) for a backbone with C output channels: [mean over H, W | max over H, W].
    """
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
    was_training = backbone.training
    backbone.eval()
    codes = []
    for start in range(0, len(images), batch_size):
        maps = backbone(images[start:start + batch_size])
        codes.append(torch.cat([maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))], dim=1))
    backbone.train(was_training)
    return torch.cat(codes) if codes else torch.empty(0)


def vgg_small(num_classes: int = 10, in_channels: int = 1, batch_norm: bool = True, width: int = 16,
              dropout: float = 0.3) -> VGG:
    """A narrow VGG-style network for 32x32 images on a CPU: 3 stages of two 3x3 convs, 2x2 global pool."""
    cfg = [width, width, "M", 2 * width, 2 * width, "M", 4 * width, 4 * width, "M"]
    return VGG(cfg, num_classes=num_classes, batch_norm=batch_norm, dropout=dropout, in_channels=in_channels,
               hidden=8 * width, pool_size=2)
