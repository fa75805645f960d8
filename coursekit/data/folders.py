"""Loaders for standard on-disk formats, and the digits that ship with scikit-learn.

* ``ImageFolder``: ``root/<class name>/<image>`` trees (the layout torchvision and most course data sets use).
* ``OxfordPetsSegmentation``: the Oxford-IIIT Pet layout, ``images/<name>.jpg`` with
  ``annotations/trimaps/<name>.png`` (1 = pet, 2 = background, 3 = boundary) and optional split lists
  ``annotations/trainval.txt`` / ``annotations/test.txt``. Download it yourself where you have a network;
  coursekit never downloads anything.
* ``digits``: scikit-learn's bundled 8x8 handwritten digits as tensors.
* ``faces``: scikit-image's bundled face / non-face patches (25x25 grey crops from Labeled Faces in the Wild and
  from background), the classic detector-training problem, as tensors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .._extras import require

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff"}


def _load_image(path: Path, grayscale: bool, size) -> torch.Tensor:
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("L" if grayscale else "RGB")
        if size is not None:
            img = img.resize((size[1], size[0]), Image.BILINEAR)
        array = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(array[None] if grayscale else array.transpose(2, 0, 1).copy())


def _size(size):
    return None if size is None else (size, size) if isinstance(size, int) else tuple(size)


class ImageFolder(Dataset):
    """(image (C, H, W) float32 in [0, 1], label int64) from root/<class>/<image> files; classes sorted by name."""

    def __init__(self, root, grayscale: bool = False, size=None, transform=None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"ImageFolder root {self.root} is not a folder")
        self.classes = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = [(p, self.class_to_idx[c]) for c in self.classes
                        for p in sorted((self.root / c).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
        if not self.samples:
            raise ValueError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found under {self.root}/<class>/")
        self.grayscale, self.size, self.transform = grayscale, _size(size), transform

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        image = _load_image(path, self.grayscale, self.size)
        if self.transform is not None:
            image = self.transform(image)
        return image, torch.tensor(label, dtype=torch.int64)


class OxfordPetsSegmentation(Dataset):
    """(image (3, H, W) float32, mask (1, H, W) float32 in {0, 1}) in the Oxford-IIIT Pet layout.

    boundary: where the trimap's boundary class (3) goes, "foreground" (default) or "background".
    split: "trainval" or "test" reads annotations/<split>.txt; None takes every image that has a trimap.
    """

    def __init__(self, root, split: str | None = None, size=(128, 128), boundary: str = "foreground",
                 transform=None):
        self.root = Path(root)
        images, trimaps = self.root / "images", self.root / "annotations" / "trimaps"
        if not images.is_dir() or not trimaps.is_dir():
            raise ValueError(f"{self.root} does not look like Oxford-IIIT Pet: expected images/ and "
                             "annotations/trimaps/")
        if boundary not in ("foreground", "background"):
            raise ValueError(f"boundary must be 'foreground' or 'background', got {boundary!r}")
        if split is not None:
            listing = self.root / "annotations" / f"{split}.txt"
            if not listing.is_file():
                raise ValueError(f"split file {listing} not found")
            names = [line.split()[0] for line in listing.read_text().splitlines() if line.strip()
                     and not line.startswith("#")]
        else:
            names = sorted(p.stem for p in trimaps.glob("*.png"))
        self.items = []
        for name in names:
            candidates = [images / f"{name}{suffix}" for suffix in (".jpg", ".jpeg", ".png")]
            image = next((c for c in candidates if c.is_file()), None)
            if image is not None and (trimaps / f"{name}.png").is_file():
                self.items.append((image, trimaps / f"{name}.png"))
        if not self.items:
            raise ValueError(f"no image with a matching trimap under {self.root}")
        self.size, self.boundary, self.transform = _size(size), boundary, transform

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        from PIL import Image

        image_path, trimap_path = self.items[index]
        image = _load_image(image_path, grayscale=False, size=self.size)
        with Image.open(trimap_path) as trimap:
            if self.size is not None:
                trimap = trimap.resize((self.size[1], self.size[0]), Image.NEAREST)  # labels: never interpolate
            labels = np.asarray(trimap)
        foreground = (labels == 1) | ((labels == 3) if self.boundary == "foreground" else False)
        mask = torch.from_numpy(foreground.astype(np.float32))[None]
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image, mask


def _split_indices(labels: np.ndarray, split: str, test_fraction: float, seed: int) -> np.ndarray:
    """A seeded, class-stratified train/test split, so that a small test set keeps every class."""
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    if split == "all":
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    test = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        test.extend(members[:round(test_fraction * len(members))])
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[test] = True
    chosen = np.flatnonzero(is_test if split == "test" else ~is_test)
    return rng.permutation(chosen)


def digits(split: str = "train", test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's 1,797 handwritten digits as a TensorDataset of ((1, 8, 8) float32 in [0, 1], label).

    The split is stratified by digit and seeded: the same on every machine."""
    require("coursekit.data.digits()", "sklearn", extra="course")
    from sklearn.datasets import load_digits
    from torch.utils.data import TensorDataset

    data = load_digits()
    chosen = _split_indices(data.target, split, test_fraction, seed)
    x = torch.from_numpy((data.images[chosen] / 16.0).astype(np.float32))[:, None]
    return TensorDataset(x, torch.from_numpy(data.target[chosen].astype(np.int64)))


def faces(split: str = "train", test_fraction: float = 0.25, seed: int = 0):
    """scikit-image's 200 face / non-face patches as a TensorDataset of ((1, 25, 25) float32 in [0, 1], label).

    label 1 = face, 0 = not a face; 100 of each. The split is stratified and seeded, so train and test keep the
    50/50 balance and are the same on every machine. The patches ship inside scikit-image (no download).
    """
    require("coursekit.data.faces()", "skimage", extra="course")  # scikit-image ships the patches
    from skimage.data import lfw_subset
    from torch.utils.data import TensorDataset

    images = np.asarray(lfw_subset(), dtype=np.float32)  # (200, 25, 25): 100 faces, then 100 non-faces
    labels = np.repeat(np.array([1, 0], dtype=np.int64), len(images) // 2)
    chosen = _split_indices(labels, split, test_fraction, seed)
    x = torch.from_numpy(images[chosen])[:, None]
    return TensorDataset(x, torch.from_numpy(labels[chosen]))
