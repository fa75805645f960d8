"""Classification and segmentation metrics on torch tensors or NumPy arrays.

Empty masks are defined, not NaN: when prediction and target are both empty, Dice and IoU are 1 (nothing to find,
nothing found); when only one of them is empty, 0.
"""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "dice_score", "iou", "confusion_matrix", "dice_from_logits"]


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _masks(pred, target):
    pred, target = _numpy(pred), _numpy(target)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {pred.shape} and {target.shape}")
    for name, m in (("pred", pred), ("target", target)):
        if m.size and not np.isin(m, (0, 1)).all():
            raise ValueError(f"{name} must be a binary mask (0/1 or bool); threshold probabilities first")
    return pred.astype(bool), target.astype(bool)


def accuracy(logits, targets) -> float:
    """Fraction of correct argmax predictions. logits: (N, C) or (N, C, H, W); targets: (N,) or (N, H, W)."""
    logits, targets = _numpy(logits), _numpy(targets)
    if logits.ndim < 2 or logits.shape[:1] + logits.shape[2:] != targets.shape:
        raise ValueError(f"logits (N, C, ...) and targets (N, ...) do not match: {logits.shape} and {targets.shape}")
    return float(np.mean(logits.argmax(axis=1) == targets)) if targets.size else 0.0


def dice_score(pred, target) -> float:
    """2 |P and T| / (|P| + |T|) of two binary masks of the same shape (1.0 when both are empty)."""
    p, t = _masks(pred, target)
    total = p.sum() + t.sum()
    return 1.0 if total == 0 else float(2.0 * np.logical_and(p, t).sum() / total)


def iou(pred, target) -> float:
    """|P and T| / |P or T| of two binary masks (intersection over union; 1.0 when both are empty)."""
    p, t = _masks(pred, target)
    union = np.logical_or(p, t).sum()
    return 1.0 if union == 0 else float(np.logical_and(p, t).sum() / union)


def dice_from_logits(logits, target, threshold: float = 0.5) -> float:
    """Dice of sigmoid(logits) > threshold against a binary target: a metric for fit(metrics={...})."""
    logits = _numpy(logits)
    probs = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    return dice_score((probs > threshold).astype(np.uint8), _numpy(target).astype(np.uint8))


def confusion_matrix(preds, targets, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts: row = true class, column = predicted class."""
    preds, targets = _numpy(preds).ravel(), _numpy(targets).ravel()
    if preds.shape != targets.shape:
        raise ValueError(f"preds and targets must have the same number of elements, got {preds.size} and "
                         f"{targets.size}")
    for name, v in (("preds", preds), ("targets", targets)):
        if v.size and (v.min() < 0 or v.max() >= num_classes):
            raise ValueError(f"{name} must lie in [0, {num_classes}), got values in [{v.min()}, {v.max()}]")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (targets.astype(np.int64), preds.astype(np.int64)), 1)
    return matrix
