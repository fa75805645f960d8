"""Augmentation that moves an image and its mask together (the slides' translation, rotation, scaling, flips)
plus intensity changes for the image alone.

One random affine transform per call is applied to both with ``grid_sample``: bilinear for the image, nearest
for the mask, so the mask stays binary and aligned with the image pixel for pixel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class JointAugment:
    """Callable (image, mask) -> (image, mask); tensors of shape (C, H, W).

    degrees: rotation range (+-); translate: fraction of the size (+-); scale: (min, max) zoom;
    hflip, vflip: probabilities; brightness, contrast: +- ranges for the image; generator: torch.Generator
    for reproducible draws.
    """

    def __init__(self, degrees: float = 15.0, translate: float = 0.1, scale=(0.9, 1.1), hflip: float = 0.5,
                 vflip: float = 0.5, brightness: float = 0.1, contrast: float = 0.1, generator=None):
        if degrees < 0 or not 0 <= translate < 1 or not 0 < scale[0] <= scale[1]:
            raise ValueError(f"invalid augmentation ranges: degrees={degrees}, translate={translate}, scale={scale}")
        self.degrees, self.translate, self.scale = degrees, translate, tuple(scale)
        self.hflip, self.vflip, self.brightness, self.contrast = hflip, vflip, brightness, contrast
        self.generator = generator

    def _uniform(self, low, high):
        return low + (high - low) * torch.rand((), generator=self.generator).item()

    def matrix(self) -> torch.Tensor:
        """A random 2x3 affine matrix in the normalised coordinates of affine_grid."""
        angle = math.radians(self._uniform(-self.degrees, self.degrees))
        zoom = self._uniform(*self.scale)
        tx, ty = (self._uniform(-2 * self.translate, 2 * self.translate) for _ in range(2))
        fx = -1.0 if self._uniform(0, 1) < self.hflip else 1.0
        fy = -1.0 if self._uniform(0, 1) < self.vflip else 1.0
        cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
        return torch.tensor([[cos * fx, -sin * fy, tx], [sin * fx, cos * fy, ty]], dtype=torch.float32)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor | None = None):
        if image.dim() != 3 or (mask is not None and mask.shape[-2:] != image.shape[-2:]):
            raise ValueError(f"image must be (C, H, W) and mask (C', H, W) of the same size, got "
                             f"{tuple(image.shape)} and {None if mask is None else tuple(mask.shape)}")
        theta = self.matrix()[None]
        grid = F.affine_grid(theta, [1, *image.shape], align_corners=False)
        image = F.grid_sample(image[None].float(), grid, mode="bilinear", padding_mode="reflection",
                              align_corners=False)[0]
        gain = 1 + self._uniform(-self.contrast, self.contrast)
        image = (image - image.mean()) * gain + image.mean() + self._uniform(-self.brightness, self.brightness)
        if mask is None:
            return image
        mask = F.grid_sample(mask[None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)[0]
        return image, mask
