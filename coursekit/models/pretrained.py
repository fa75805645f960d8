"""Pretrained weights that ship with coursekit (nothing is downloaded).

``vgg_small_pretrained`` is ``vgg_small`` trained on SyntheticShapesClassification (5 shapes, 32x32 gray), rebuilt
by ``scripts/pretrain_vgg_small.py``. For ImageNet features on a machine that has torchvision's weights file,
build ``vgg16()`` and ``load_state_dict(torch.load(path))``: the layouts are identical.
"""

from __future__ import annotations

from importlib import resources

import torch
from torch import nn

from .vgg import vgg_small

WEIGHTS = "vgg_small_shapes.pt"


def load_weights(name: str = WEIGHTS) -> dict:
    with resources.as_file(resources.files("coursekit.models") / "weights" / name) as path:
        if not path.is_file():
            raise FileNotFoundError(f"{name} is missing from the coursekit package; rebuild it with "
                                    "python scripts/pretrain_vgg_small.py")
        return torch.load(path, map_location="cpu", weights_only=False)


def vgg_small_pretrained(num_classes: int | None = None, freeze_features: bool = False) -> nn.Module:
    """The pretrained backbone; with num_classes, a fresh last layer for a new task (transfer learning), and
    with freeze_features, the convolutional layers excluded from training."""
    checkpoint = load_weights()
    config = checkpoint["config"]
    model = vgg_small(config["num_classes"], config["in_channels"], width=config["width"])
    model.load_state_dict(checkpoint["state_dict"])
    if num_classes is not None and num_classes != config["num_classes"]:
        last = model.classifier[6]
        model.classifier[6] = nn.Linear(last.in_features, num_classes)
    if freeze_features:
        for p in model.features.parameters():
            p.requires_grad_(False)
    return model
