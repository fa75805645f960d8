"""Convolution arithmetic: output sizes, parameter counts, receptive fields, FLOPs and memory, from shapes alone.

The formulas (Dumoulin & Visin, *A guide to convolution arithmetic for deep learning*, 2016), for one spatial
axis of size n, kernel k, stride s, padding p, dilation d:

    convolution            o = floor((n + 2p - d(k - 1) - 1) / s) + 1
    transposed convolution o = (n - 1) s - 2p + d(k - 1) + output_padding + 1
    pooling                the convolution formula (ceil instead of floor with ceil_mode)
"""

from __future__ import annotations

import math
import numbers

__all__ = ["conv_output_size", "conv_transpose_output_size", "pool_output_size", "conv_params"]


def _int(value, name, minimum):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _maybe_pair(fn, n, *args):
    """Apply a one-axis size formula to an int or, elementwise, to a pair of sizes and parameters."""
    if isinstance(n, (tuple, list)):
        pairs = [a if isinstance(a, (tuple, list)) else (a, a) for a in args]
        return tuple(fn(n[i], *(p[i] for p in pairs)) for i in range(len(n)))
    if any(isinstance(a, (tuple, list)) for a in args):
        raise ValueError("n is an int but a hyper-parameter is a pair; pass n as a pair (H, W) too")
    return fn(n, *args)


def _conv_size(n, kernel_size, stride, padding, dilation):
    n = _int(n, "n", 1)
    k = _int(kernel_size, "kernel_size", 1)
    s = _int(stride, "stride", 1)
    p = _int(padding, "padding", 0)
    d = _int(dilation, "dilation", 1)
    span = d * (k - 1) + 1
    if span > n + 2 * p:
        raise ValueError(f"kernel_size {k} with dilation {d} spans {span}, larger than the padded input "
                         f"{n} + 2*{p} = {n + 2 * p}")
    return (n + 2 * p - span) // s + 1


def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    """Output size of a convolution along one axis (or a pair of axes): floor((n + 2p - d(k-1) - 1) / s) + 1."""
    return _maybe_pair(_conv_size, n, kernel_size, stride, padding, dilation)


def _conv_transpose_size(n, kernel_size, stride, padding, output_padding, dilation):
    n = _int(n, "n", 1)
    k = _int(kernel_size, "kernel_size", 1)
    s = _int(stride, "stride", 1)
    p = _int(padding, "padding", 0)
    op = _int(output_padding, "output_padding", 0)
    d = _int(dilation, "dilation", 1)
    if op >= max(s, d):
        raise ValueError(f"output_padding must be smaller than either stride or dilation, got output_padding={op}, "
                         f"stride={s}, dilation={d}")
    out = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
    if out < 1:
        raise ValueError(f"padding {p} removes the whole output (size {out}) for n={n}, kernel_size={k}, stride={s}")
    return out


def conv_transpose_output_size(n, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    """Output size of a transposed convolution: (n - 1) s - 2p + d(k - 1) + output_padding + 1."""
    return _maybe_pair(_conv_transpose_size, n, kernel_size, stride, padding, output_padding, dilation)


def _pool_size(n, kernel_size, stride, padding, dilation, ceil_mode):
    n = _int(n, "n", 1)
    k = _int(kernel_size, "kernel_size", 1)
    s = k if stride is None else _int(stride, "stride", 1)
    p = _int(padding, "padding", 0)
    d = _int(dilation, "dilation", 1)
    if 2 * p > k:
        raise ValueError(f"padding should be at most half of kernel_size, got padding={p}, kernel_size={k}")
    span = d * (k - 1) + 1
    if span > n + 2 * p:
        raise ValueError(f"pooling window {k} (dilation {d}) is larger than the padded input {n} + 2*{p}")
    if not ceil_mode:
        return (n + 2 * p - span) // s + 1
    out = math.ceil((n + 2 * p - span) / s) + 1
    if (out - 1) * s >= n + p:  # PyTorch drops a last window that would start in the right padding
        out -= 1
    return out


def pool_output_size(n, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Output size of max/avg pooling; stride defaults to kernel_size as in PyTorch."""
    if isinstance(n, (tuple, list)):
        stride = kernel_size if stride is None else stride
    return _maybe_pair(lambda n, k, s, p, d: _pool_size(n, k, s, p, d, ceil_mode), n, kernel_size, stride,
                       padding, dilation)


def conv_params(c_in, c_out, kernel_size, bias=True):
    """Learnable parameters of a conv layer: c_out * c_in * KH * KW weights plus c_out biases."""
    c_in = _int(c_in, "c_in", 1)
    c_out = _int(c_out, "c_out", 1)
    kh, kw = (kernel_size, kernel_size) if not isinstance(kernel_size, (tuple, list)) else kernel_size
    kh, kw = _int(kh, "kernel_size", 1), _int(kw, "kernel_size", 1)
    return c_out * c_in * kh * kw + (c_out if bias else 0)
