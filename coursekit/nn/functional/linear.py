"""Fully connected (affine) layer: out = x w^T + b, with PyTorch's (out_features, in_features) weights."""

from __future__ import annotations

from ._checks import as_array, check_vector, result_dtype

__all__ = ["linear_forward", "linear_backward"]


def linear_forward(x, w, b=None):
    """x: (N, ..., in_features); w: (out_features, in_features); b: (out_features,) or None.

    Returns: out (N, ..., out_features), cache (x, w, has_bias)
    """
    x = as_array(x, "x", None)
    w = as_array(w, "w", 2, "(out_features, in_features)")
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(
            f"the last axis of x must equal in_features={w.shape[1]} of w: x.shape={x.shape}, w.shape={w.shape} "
            "(flatten feature maps to (N, C*H*W) first)"
        )
    b = check_vector(b, "b", w.shape[0], f"out_features of w (w.shape={w.shape})")
    out = x @ w.T.astype(result_dtype(x, w), copy=False)
    if b is not None:
        out = out + b
    return out, (x, w, b is not None)


def linear_backward(dout, cache):
    """dout: (N, ..., out_features) -> dx (like x), dw (out_features, in_features), db (out_features,) or None."""
    x, w, has_bias = cache
    dout = as_array(dout, "dout")
    if dout.shape != x.shape[:-1] + (w.shape[0],):
        raise ValueError(f"dout has shape {dout.shape}, expected {x.shape[:-1] + (w.shape[0],)}")
    dx = dout @ w                                                  # N..., in
    dout2 = dout.reshape(-1, w.shape[0])                           # M, out
    dw = dout2.T @ x.reshape(-1, w.shape[1])                       # out, in
    db = dout2.sum(axis=0) if has_bias else None
    return dx, dw, db
