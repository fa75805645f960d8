"""Synthetic faces with 15 known keypoints: the slides' facial-keypoints regression case study without a download.

The Kaggle challenge the slides use (96x96 gray faces, 15 keypoints = 30 numbers to regress) cannot ship with the
course, so each image here is a drawn face (head, eyes, eyebrows, nose, mouth) at a random position, size, tilt and
lighting, with noise, and its keypoints are known exactly because they are where the parts were drawn.
Keypoints are (x, y) in [-1, 1] (the image centre is 0, x to the right, y down), as in the Kaggle tutorial that
scales its targets to [-1, 1]. Every sample comes from ``np.random.default_rng([seed, index, 2])``, so sample 17
is the same on any machine and in a set of any size.

A horizontal flip is an augmentation only if the keypoints follow it: x changes sign, and the left and right
members of each pair (left eye / right eye ...) trade names, else a "left eye" target lands on the right eye.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .synthetic import _blur

__all__ = ["KEYPOINT_NAMES", "FLIP_PAIRS", "SyntheticFaceKeypoints", "hflip_keypoints"]

# "left" and "right" as seen in the image. Face coordinates (u right, v down) in units of the head's radius.
_LAYOUT = {
    "left_eye_center": (-0.38, -0.2), "right_eye_center": (0.38, -0.2),
    "left_eye_inner_corner": (-0.2, -0.2), "right_eye_inner_corner": (0.2, -0.2),
    "left_eye_outer_corner": (-0.56, -0.2), "right_eye_outer_corner": (0.56, -0.2),
    "left_eyebrow_inner_end": (-0.2, -0.42), "right_eyebrow_inner_end": (0.2, -0.42),
    "left_eyebrow_outer_end": (-0.6, -0.5), "right_eyebrow_outer_end": (0.6, -0.5),
    "nose_tip": (0.0, 0.12),
    "mouth_left_corner": (-0.3, 0.45), "mouth_right_corner": (0.3, 0.45),
    "mouth_center_top_lip": (0.0, 0.38), "mouth_center_bottom_lip": (0.0, 0.56),
}
KEYPOINT_NAMES = tuple(_LAYOUT)
# indices of the keypoints that trade places under a horizontal flip
FLIP_PAIRS = tuple((i, i + 1) for i in range(0, 10, 2)) + ((11, 12),)


def _segment_distance(xx, yy, a, b):
    """Distance of every pixel centre to the segment a-b."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    t = np.clip(((xx - ax) * dx + (yy - ay) * dy) / max(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
    return np.hypot(xx - ax - t * dx, yy - ay - t * dy)


class SyntheticFaceKeypoints(Dataset):
    """n gray faces of size x size pixels with 15 keypoints each.

    Returns (image (1, size, size) float32, keypoints (30,) float32 as x0, y0, x1, y1, ... in [-1, 1]).
    transform: an optional callable (image, keypoints) -> (image, keypoints), applied on every read.
    """

    def __init__(self, n: int, size: int = 32, seed: int = 0, transform=None):
        if n < 1 or size < 16:
            raise ValueError(f"need n >= 1 and size >= 16, got n={n}, size={size}")
        self.n, self.size, self.seed, self.transform = n, size, seed, transform

    def __len__(self) -> int:
        return self.n

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The index-th face as numpy arrays: image (size, size) and keypoints (15, 2) in pixels."""
        rng = np.random.default_rng([self.seed, index, 2])
        s = self.size
        r = rng.uniform(0.30, 0.40) * s                      # head radius (vertical half-axis)
        cx, cy = s / 2 + rng.uniform(-0.08, 0.08, size=2) * s
        tilt = np.radians(rng.uniform(-15, 15))
        eye_spread, mouth_width = rng.uniform(0.85, 1.15), rng.uniform(0.8, 1.2)
        brow_lift, mouth_open = rng.uniform(-0.05, 0.08), rng.uniform(0.6, 1.4)
        face = {}
        for name, (u, v) in _LAYOUT.items():
            if "eye" in name:
                u *= eye_spread
            if name.startswith("mouth"):
                u *= mouth_width
                v = 0.45 + (v - 0.45) * mouth_open
            if "eyebrow" in name:
                v -= brow_lift
            face[name] = (u * r, v * r)
        cos, sin = np.cos(tilt), np.sin(tilt)
        points = np.array([(cx + u * cos - v * sin, cy + u * sin + v * cos) for u, v in face.values()])

        yy, xx = np.mgrid[0:s, 0:s].astype(np.float64) + 0.5     # pixel centres
        u = (xx - cx) * cos + (yy - cy) * sin
        v = -(xx - cx) * sin + (yy - cy) * cos
        skin = rng.uniform(0.55, 0.8)
        image = rng.uniform(0.1, 0.35) + rng.uniform(-0.15, 0.15) * (xx / s - 0.5)   # unevenly lit background
        head = (u / (0.8 * r)) ** 2 + (v / r) ** 2 <= 1
        image = np.where(head, skin + 0.1 * (u / r), image)
        p = dict(zip(KEYPOINT_NAMES, points))
        dark = skin - rng.uniform(0.35, 0.5)
        for side in ("left", "right"):
            centre = p[f"{side}_eye_center"]
            half = np.hypot(*(p[f"{side}_eye_outer_corner"] - p[f"{side}_eye_inner_corner"])) / 2
            eye = _segment_distance(xx, yy, p[f"{side}_eye_inner_corner"], p[f"{side}_eye_outer_corner"])
            image = np.where(eye <= 0.07 * r, dark + 0.15, image)
            image = np.where(np.hypot(xx - centre[0], yy - centre[1]) <= 0.35 * half, dark, image)
            brow = _segment_distance(xx, yy, p[f"{side}_eyebrow_inner_end"], p[f"{side}_eyebrow_outer_end"])
            image = np.where(brow <= 0.05 * r + 0.3, dark, image)
        nose = p["nose_tip"]
        image = np.where(np.hypot(xx - nose[0], yy - nose[1]) <= 0.08 * r + 0.3, dark + 0.1, image)
        for a, b in (("mouth_left_corner", "mouth_center_top_lip"), ("mouth_center_top_lip", "mouth_right_corner"),
                     ("mouth_left_corner", "mouth_center_bottom_lip"),
                     ("mouth_center_bottom_lip", "mouth_right_corner")):
            image = np.where(_segment_distance(xx, yy, p[a], p[b]) <= 0.04 * r + 0.35, dark, image)
        image = _blur(image, 0.6) + rng.normal(0, 0.04, size=(s, s))
        return image.astype(np.float32), points.astype(np.float32)

    def __getitem__(self, index: int):
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} samples")
        image, points = self.sample(index)
        half = self.size / 2
        image = torch.from_numpy(image)[None]
        keypoints = torch.from_numpy(((points - half) / half).reshape(-1))
        if self.transform is not None:
            image, keypoints = self.transform(image, keypoints)
        return image, keypoints


def hflip_keypoints(image: torch.Tensor, keypoints: torch.Tensor, swap: bool = True):
    """Mirror image (..., H, W) left-right and its keypoints (..., 30) in [-1, 1] with it.

    swap=True (the correct flip) also exchanges the left and right keypoint of every pair in FLIP_PAIRS;
    swap=False only negates x, the bug that teaches a network to put the left eye on the right.
    """
    if keypoints.shape[-1] != 2 * len(KEYPOINT_NAMES):
        raise ValueError(f"keypoints must end in {2 * len(KEYPOINT_NAMES)} values (x, y per keypoint), got shape "
                         f"{tuple(keypoints.shape)}")
    if image.dim() < 2:
        raise ValueError(f"image must be (..., H, W), got shape {tuple(image.shape)}")
    points = keypoints.reshape(*keypoints.shape[:-1], -1, 2).clone()
    points[..., 0] = -points[..., 0]
    if swap:
        order = list(range(len(KEYPOINT_NAMES)))
        for left, right in FLIP_PAIRS:
            order[left], order[right] = right, left
        points = points[..., order, :]
    return image.flip(-1), points.reshape(keypoints.shape)
