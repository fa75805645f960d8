"""Element-wise non-linearities, forward and backward.

Each backward multiplies the upstream gradient by the local derivative: 1[x > 0] for ReLU, 1 or the slope for
leaky ReLU, 1 - tanh(x)^2 for tanh and s(1 - s) for the sigmoid s. Where the derivative is cheapest from the
output (tanh, sigmoid) the cache holds the output.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_array

__all__ = [
    "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward",
    "tanh_forward", "tanh_backward",
    "sigmoid_forward", "sigmoid_backward",
    "sigmoid",
]


def _check_dout(dout, shape):
    dout = as_array(dout, "dout")
    if dout.shape != shape:
        raise ValueError(f"dout has shape {dout.shape}, but the forward output had shape {shape}")
    return dout


def relu_forward(x):
    """max(0, x). x: any shape. Returns out (same shape), cache."""
    x = as_array(x, "x")
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """The gradient passes where x > 0 (and, as in PyTorch, not at x == 0)."""
    x = cache
    return np.where(x > 0, _check_dout(dout, x.shape), 0)


def leaky_relu_forward(x, negative_slope=0.01):
    """max(0, x) + negative_slope * min(0, x). Returns out, cache."""
    x = as_array(x, "x")
    return np.where(x > 0, x, x * negative_slope), (x, negative_slope)


def leaky_relu_backward(dout, cache):
    x, negative_slope = cache
    dout = _check_dout(dout, x.shape)
    return np.where(x > 0, dout, dout * negative_slope)


def tanh_forward(x):
    x = as_array(x, "x")
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    out = cache
    return _check_dout(dout, out.shape) * (1 - out * out)


def sigmoid(x):
    """1 / (1 + exp(-x)) without overflow for large |x|."""
    x = np.asarray(x)
    # exp of a non-positive number never overflows; pick the algebraically equal form per sign
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_forward(x):
    x = as_array(x, "x")
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout, cache):
    out = cache
    return _check_dout(dout, out.shape) * out * (1 - out)
