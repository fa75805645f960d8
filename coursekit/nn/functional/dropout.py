"""Inverted dropout (Srivastava et al., 2014).

In training each activation is kept with probability 1 - p and scaled by 1 / (1 - p), so its expected value is
unchanged and the network needs no rescaling at test time, where dropout is the identity.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._checks import as_array

__all__ = ["dropout_forward", "dropout_backward"]


def dropout_forward(x, p, training=True, rng=None):
    """x: any shape; p: probability of zeroing an element; rng: np.random.Generator, an int seed, or None.

    Returns: out (same shape as x), cache (the scaled keep-mask, or None in eval mode)
    """
    x = as_array(x, "x")
    if not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability p must be in [0, 1], got {p!r}")
    if not training or p == 0.0:
        return x.copy(), None
    if p == 1.0:
        mask = np.zeros_like(x)
    else:
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        mask = (rng.random(x.shape) >= p).astype(x.dtype) / (1.0 - p)
    return x * mask, mask


def dropout_backward(dout, cache):
    """The gradient flows through the kept units with the same 1 / (1 - p) scale."""
    mask = cache
    dout = as_array(dout, "dout")
    if mask is None:
        return dout.copy()
    if dout.shape != mask.shape:
        raise ValueError(f"dout has shape {dout.shape}, but the forward output had shape {mask.shape}")
    return dout * mask
