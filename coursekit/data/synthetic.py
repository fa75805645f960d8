"""Synthetic data sets generated on the fly, identical on every machine for the same seed.

Each sample i is drawn from its own generator, ``np.random.default_rng([seed, i])``, so sample 17 is the same
whether the set has 20 or 20,000 images, and nothing depends on the order samples are read in.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with reflected borders."""
    radius = max(1, int(3 * sigma))
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-(x ** 2) / (2 * sigma ** 2))
    kernel /= kernel.sum()
    padded = np.pad(image, radius, mode="reflect")
    rows = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="valid"), 1, padded)
    return np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="valid"), 0, rows)


class SyntheticShapesSegmentation(Dataset):
    """Fluorescence-microscopy-like images of cells and their foreground masks.

    Each image holds 3-9 elliptical "cells" of different sizes, orientations and brightness, some touching or
    overlapping, with small bright debris that is not a cell, on an unevenly lit background, blurred and with
    noise; the mask marks every pixel inside a cell. Dim cells, the lighting gradient and the debris defeat a
    global intensity threshold (best Dice about 0.8), while a small UNet reaches 0.9 and more.

    Returns (image, mask): float32 tensors of shape (1, size, size); mask values are 0 and 1.
    """

    def __init__(self, n: int, size: int = 64, seed: int = 0, transform=None):
        if n < 1 or size < 16:
            raise ValueError(f"need n >= 1 and size >= 16, got n={n}, size={size}")
        self.n, self.size, self.seed, self.transform = n, size, seed, transform
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.n

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(image, mask) as float32 NumPy arrays of shape (size, size)."""
        if index in self._cache:
            return self._cache[index]
        rng = np.random.default_rng([self.seed, index])
        s = self.size
        yy, xx = np.mgrid[0:s, 0:s].astype(np.float64)
        mask = np.zeros((s, s), dtype=bool)
        signal = np.zeros((s, s))
        for _ in range(int(rng.integers(3, 10))):
            cy, cx = rng.uniform(0.1 * s, 0.9 * s, size=2)
            a, b = rng.uniform(0.05 * s, 0.16 * s), rng.uniform(0.05 * s, 0.12 * s)
            angle = rng.uniform(0, np.pi)
            u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
            v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
            inside = (u / a) ** 2 + (v / b) ** 2 <= 1
            brightness = rng.uniform(0.25, 1.0)                      # some cells are dim
            texture = 1 + 0.2 * np.sin(u / rng.uniform(1.5, 4)) * np.cos(v / rng.uniform(1.5, 4))
            signal = np.maximum(signal, inside * brightness * texture)
            mask |= inside
        for _ in range(int(rng.integers(2, 7))):                     # bright debris: small, not cells
            cy, cx = rng.uniform(0, s, size=2)
            r = rng.uniform(0.6, 1.6)
            signal = np.maximum(signal, ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) * rng.uniform(0.7, 1.2))
        gy, gx = rng.uniform(-0.45, 0.45, size=2)
        background = 0.15 + gy * (yy / s - 0.5) + gx * (xx / s - 0.5)   # uneven illumination
        image = _blur(signal, rng.uniform(0.8, 1.8)) + background
        image += rng.normal(0, rng.uniform(0.05, 0.13), size=(s, s))  # camera noise
        result = (image.astype(np.float32), mask.astype(np.float32))
        self._cache[index] = result
        return result

    def __getitem__(self, index: int):
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} samples")
        image, mask = self.sample(index)
        image, mask = torch.from_numpy(image)[None], torch.from_numpy(mask)[None]
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image, mask


def _ellipse(xx, yy, rng, s):
    """A random ellipse's normalised radius r (r <= 1 inside) and polar angle, at a random place and orientation."""
    cy, cx = rng.uniform(0.1 * s, 0.9 * s, size=2)
    a, b = rng.uniform(0.10 * s, 0.20 * s), rng.uniform(0.08 * s, 0.15 * s)
    angle = rng.uniform(0, np.pi)
    u = ((xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)) / a
    v = (-(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)) / b
    return np.sqrt(u ** 2 + v ** 2), np.arctan2(v, u), u, v, min(a, b)


class SyntheticMembraneSegmentation(Dataset):
    """Images of membrane-stained cells, where a cell shows as its outline, and masks of the whole cells.

    The harder sibling of SyntheticShapesSegmentation, for training a network rather than a threshold. Each image
    holds 2-6 live cells (ellipses) whose stained membrane is a thin rim of uneven brightness broken by 1-3 gaps,
    around a faint cytoplasm and, in most cells, a brighter nucleus. Beside them lie decoys that a pipeline without
    learning takes for cells: dead cells the same size, stained all through and not part of the mask, thin curved
    fibres and small debris. The background is unevenly lit (a gradient and a vignette) and textured, and the
    image is blurred and noisy. The mask marks every pixel inside a live cell, rim to centre.

    Telling the cells apart takes shape and context: a rim with gaps must be closed and filled, a filled blob of
    the same brightness left out. A small UNet trained for a few CPU minutes reaches a Dice of about 0.92; the best
    threshold-and-morphology pipelines we could build stay near 0.7 (course/judges/a3_unet.py measures both).

    Returns (image, mask): float32 tensors of shape (1, size, size); mask values are 0 and 1.
    """

    def __init__(self, n: int, size: int = 64, seed: int = 0, transform=None):
        if n < 1 or size < 32:
            raise ValueError(f"need n >= 1 and size >= 32, got n={n}, size={size}")
        self.n, self.size, self.seed, self.transform = n, size, seed, transform
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.n

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(image, mask) as float32 NumPy arrays of shape (size, size)."""
        if index in self._cache:
            return self._cache[index]
        rng = np.random.default_rng([self.seed, index])
        s = self.size
        yy, xx = np.mgrid[0:s, 0:s].astype(np.float64)
        mask = np.zeros((s, s), dtype=bool)
        signal = np.zeros((s, s))
        for _ in range(int(rng.integers(2, 7))):                      # live cells: a rim, the mask is all of it
            r, theta, u, v, minor = _ellipse(xx, yy, rng, s)
            inside = r <= 1
            rim = inside & (r >= 1 - rng.uniform(1.2, 2.2) / minor)   # 1.2-2.2 px thick
            along = 1 + 0.35 * np.sin(rng.integers(1, 4) * theta + rng.uniform(0, 2 * np.pi))
            for _ in range(int(rng.integers(1, 4))):                  # gaps in the stain: the rim does not close
                start, width = rng.uniform(-np.pi, np.pi), rng.uniform(0.5, 1.2)
                rim &= np.abs(np.angle(np.exp(1j * (theta - start)))) > width / 2
            cell = inside * rng.uniform(0.0, 0.12) + rim * rng.uniform(0.35, 1.0) * along
            if rng.random() < 0.6:                                    # a nucleus, off centre
                ny, nx = rng.uniform(-0.3, 0.3, size=2)
                nucleus = ((u - nx) / 0.4) ** 2 + ((v - ny) / 0.35) ** 2 <= 1
                cell = np.maximum(cell, nucleus * rng.uniform(0.3, 0.8))
            signal = np.maximum(signal, cell)
            mask |= inside
        for _ in range(int(rng.integers(1, 4))):                      # dead cells: stained all through, not cells
            r, *_ = _ellipse(xx, yy, rng, s)
            blob = (r <= 1) & ~mask
            stain = rng.uniform(0.3, 0.8) * (1 + 0.15 * rng.normal(0, 1, (s, s)))
            signal = np.maximum(signal, blob * stain)
        for _ in range(int(rng.integers(0, 3))):                      # fibres: thin curves across the image
            heading = rng.uniform(0, 2 * np.pi) + rng.uniform(-0.02, 0.02) * np.arange(4 * s)
            start = rng.uniform(0, s, size=2) - s * np.array([np.cos(heading[0]), np.sin(heading[0])])
            px = start[0] + np.cumsum(0.5 * np.cos(heading))
            py = start[1] + np.cumsum(0.5 * np.sin(heading))
            keep = (px >= 0) & (px < s) & (py >= 0) & (py < s)
            fibre = np.zeros((s, s))
            fibre[py[keep].astype(int), px[keep].astype(int)] = rng.uniform(0.35, 0.8)
            signal = np.maximum(signal, fibre)
        for _ in range(int(rng.integers(2, 7))):                      # debris: bright specks
            cy, cx = rng.uniform(0, s, size=2)
            radius = rng.uniform(0.6, 1.6)
            speck = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius * radius
            signal = np.maximum(signal, speck * rng.uniform(0.5, 1.0))
        gy, gx = rng.uniform(-0.35, 0.35, size=2)
        vy, vx = rng.uniform(0, s, size=2)
        vignette = np.exp(-((yy - vy) ** 2 + (xx - vx) ** 2) / (2 * (0.3 * s) ** 2))
        background = 0.15 + gy * (yy / s - 0.5) + gx * (xx / s - 0.5) + rng.uniform(-0.2, 0.2) * vignette
        background += 0.25 * _blur(rng.normal(0, 1, (s, s)), 4.0)  # texture at the scale of a cell
        image = _blur(signal, rng.uniform(0.7, 1.3)) + background
        image += rng.normal(0, rng.uniform(0.04, 0.10), size=(s, s))  # camera noise
        result = (image.astype(np.float32), mask.astype(np.float32))
        self._cache[index] = result
        return result

    __getitem__ = SyntheticShapesSegmentation.__getitem__


class SyntheticShapesClassification(Dataset):
    """Gray images of one shape each — disc, square, triangle, cross or ring — at a random position, size,
    rotation and contrast, with noise. For pretraining small networks and for transfer-learning exercises.

    Returns (image (1, size, size) float32, label int64).
    """

    classes = ("disc", "square", "triangle", "cross", "ring")

    def __init__(self, n: int, size: int = 32, seed: int = 0, transform=None):
        if n < 1 or size < 16:
            raise ValueError(f"need n >= 1 and size >= 16, got n={n}, size={size}")
        self.n, self.size, self.seed, self.transform = n, size, seed, transform

    def __len__(self) -> int:
        return self.n

    def sample(self, index: int) -> tuple[np.ndarray, int]:
        rng = np.random.default_rng([self.seed, index, 1])
        label = index % len(self.classes)  # balanced by construction
        s = self.size
        yy, xx = np.mgrid[0:s, 0:s].astype(np.float64)
        r = rng.uniform(0.18, 0.32) * s
        cy, cx = rng.uniform(r + 1, s - r - 1, size=2)
        angle = rng.uniform(0, 2 * np.pi)
        u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
        name = self.classes[label]
        if name == "disc":
            shape = u ** 2 + v ** 2 <= r ** 2
        elif name == "square":
            shape = (np.abs(u) <= 0.8 * r) & (np.abs(v) <= 0.8 * r)
        elif name == "triangle":
            shape = (v >= -0.6 * r) & (v <= 0.9 * r - 1.7 * np.abs(u) + 0.3 * r) & (v <= r)
        elif name == "cross":
            shape = ((np.abs(u) <= 0.3 * r) & (np.abs(v) <= r)) | ((np.abs(v) <= 0.3 * r) & (np.abs(u) <= r))
        else:
            d = np.sqrt(u ** 2 + v ** 2)
            shape = (d <= r) & (d >= 0.55 * r)
        contrast = rng.uniform(0.5, 1.0) * rng.choice([-1, 1])
        image = 0.5 + contrast * 0.5 * _blur(shape.astype(np.float64), 0.7) + rng.normal(0, 0.08, size=(s, s))
        return image.astype(np.float32), label

    def __getitem__(self, index: int):
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} samples")
        image, label = self.sample(index)
        image = torch.from_numpy(image)[None]
        if self.transform is not None:
            image = self.transform(image)
        return image, torch.tensor(label, dtype=torch.int64)
