"""Losses with their gradient with respect to the network output, mean reduction as in PyTorch.

Each returns ``(loss, dlogits)``: a Python float and an array shaped like the first argument, so a training
step reads ``loss, dout = softmax_cross_entropy(scores, y); model.backward(dout)``.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_array, check_finite, check_same_shape
from .activations import sigmoid

__all__ = ["softmax_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss", "dice_loss",
           "log_softmax"]


def log_softmax(logits, axis=1):
    """log(softmax(logits)) computed stably by subtracting the maximum first."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax_cross_entropy(logits, y):
    """Cross-entropy of softmax(logits) against integer class labels, averaged over samples (and pixels).

    logits: (N, C) with y: (N,), or per pixel (N, C, H, W) with y: (N, H, W); labels in [0, C)
    Returns: loss (float), dlogits (same shape as logits) = (softmax - one_hot(y)) / number of terms
    """
    logits = as_array(logits, "logits", (2, 4), "(N, C) or (N, C, H, W)")
    y = np.asarray(y)
    expected = logits.shape[:1] + logits.shape[2:]
    if y.shape != expected:
        raise ValueError(f"labels y must have shape {expected} for logits of shape {logits.shape}, got {y.shape}")
    if y.dtype.kind not in "iub":
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise ValueError(f"labels y must be integer class indices, got dtype {y.dtype}")
    c = logits.shape[1]
    if y.size and (y.min() < 0 or y.max() >= c):
        raise ValueError(f"labels y must lie in [0, {c}) for {c} classes, got values in [{y.min()}, {y.max()}]")
    check_finite(logits, "logits")
    logp = log_softmax(logits, axis=1)                                  # N,C(,H,W)
    picked = np.take_along_axis(logp, np.expand_dims(y, 1), axis=1)     # N,1(,H,W)
    count = y.size
    loss = -picked.sum() / count
    dlogits = np.exp(logp)                                              # softmax
    np.put_along_axis(dlogits, np.expand_dims(y, 1), np.exp(picked) - 1, axis=1)
    return float(loss), dlogits / count


def binary_cross_entropy_with_logits(logits, y):
    """Binary cross-entropy of sigmoid(logits) against targets in [0, 1], elementwise mean.

    logits, y: the same shape (no broadcasting)
    Uses max(x, 0) - x y + log(1 + exp(-|x|)), which equals -[y log s + (1 - y) log(1 - s)] without overflow.
    Returns: loss, dlogits = (sigmoid(logits) - y) / size
    """
    logits = as_array(logits, "logits")
    y = as_array(y, "y", allow_bool=True)
    check_same_shape(logits, y, "logits", "y")
    check_finite(logits, "logits")
    check_finite(y, "y")
    loss = np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits)))
    return float(loss.mean()), (sigmoid(logits) - y) / logits.size


def mse_loss(pred, target):
    """Mean squared error (the slides' l2 loss). Returns loss, dpred = 2 (pred - target) / size."""
    pred = as_array(pred, "pred")
    target = as_array(target, "target", allow_bool=True)
    check_same_shape(pred, target, "pred", "target")
    diff = pred - target
    return float(np.mean(diff * diff)), 2.0 * diff / diff.size


def l1_loss(pred, target):
    """Mean absolute error (the slides' l1 loss). Returns loss, dpred = sign(pred - target) / size."""
    pred = as_array(pred, "pred")
    target = as_array(target, "target", allow_bool=True)
    check_same_shape(pred, target, "pred", "target")
    diff = pred - target
    return float(np.mean(np.abs(diff))), np.sign(diff) / diff.size


def dice_loss(logits, target, eps=1.0):
    """Soft Dice loss of sigmoid(logits) over the whole batch (Milletari et al., 2016):

        p = sigmoid(logits);  I = sum(p y);  S = sum(p) + sum(y);  loss = 1 - (2 I + eps) / (S + eps)

    logits, target: the same shape, target in [0, 1]; eps > 0 keeps empty masks defined
    Returns: loss, dlogits
    """
    logits = as_array(logits, "logits")
    target = as_array(target, "target", allow_bool=True)
    check_same_shape(logits, target, "logits", "target")
    check_finite(logits, "logits")
    check_finite(target, "target")
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}")
    p = sigmoid(logits)
    inter = np.sum(p * target)
    total = np.sum(p) + np.sum(target) + eps
    dice = (2 * inter + eps) / total
    dp = -(2 * target * total - (2 * inter + eps)) / total ** 2    # quotient rule
    return float(1 - dice), dp * p * (1 - p)
