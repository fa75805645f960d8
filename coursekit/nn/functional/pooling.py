"""Max, average and global average pooling, forward and backward.

Pooling slides a KH x KW window with stride S over each channel separately and keeps one number per window:
the largest (max pooling) or the mean (average pooling). Both views are gathered with a strided view, as in
the convolution; the backward sends each output's gradient to the input(s) it came from.

PyTorch's rules are followed exactly: the default stride is the kernel size, padding may be at most half the
kernel, max pooling pads with -inf so padding never wins, average pooling counts the zero padding in its divisor
unless ``count_include_pad=False``, and ``ceil_mode`` lets a last, partial window in as long as it starts inside
the input or the left padding.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ...arithmetic import pool_output_size
from ._checks import as_array, pair

__all__ = [
    "max_pool2d_forward",
    "max_pool2d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "global_avg_pool2d_forward",
    "global_avg_pool2d_backward",
]


def _validate_pool(x, kernel_size, stride, padding, dilation, ceil_mode):
    x = as_array(x, "x", 4, "(N, C, H, W)")
    kernel = pair(kernel_size, "kernel_size", 1)
    stride = kernel if stride is None else pair(stride, "stride", 1)
    padding = pair(padding, "padding", 0)
    dilation = pair(dilation, "dilation", 1)
    for p, k in zip(padding, kernel):
        if 2 * p > k:
            raise ValueError(f"padding should be at most half of kernel_size, got padding={padding}, "
                             f"kernel_size={kernel}")
    out_hw = []
    for i, axis in ((0, "height"), (1, "width")):
        n, k, s, p, d = x.shape[2 + i], kernel[i], stride[i], padding[i], dilation[i]
        span = d * (k - 1) + 1
        if span > n + 2 * p:
            raise ValueError(f"pooling window (kernel_size {k}, dilation {d}) is larger than the padded input "
                             f"{axis} {n} + 2*{p}; x has shape {x.shape}")
        out_hw.append(pool_output_size(n, k, s, p, d, ceil_mode))
    return x, kernel, stride, padding, dilation, tuple(out_hw)


def _check_no_empty_window(x_shape, kernel, stride, padding, dilation, out_hw):
    """Max pooling over a window made only of padding would output -inf; refuse that geometry."""
    for i, axis in ((0, "height"), (1, "width")):
        n = x_shape[2 + i]
        starts = np.arange(out_hw[i]) * stride[i] - padding[i]                       # first tap of each window
        taps = starts[:, None] + dilation[i] * np.arange(kernel[i])[None, :]          # OUT,K input positions
        if not np.all(np.any((taps >= 0) & (taps < n), axis=1)):
            raise ValueError(f"a pooling window along the {axis} lies entirely in the padding (input size {n}, "
                             f"kernel_size {kernel[i]}, stride {stride[i]}, padding {padding[i]}, dilation "
                             f"{dilation[i]}); x has shape {tuple(x_shape)}")


def _padded(x, padding, out_hw, kernel, stride, dilation, fill):
    """Pad x on the left by padding and on the right as far as the last window reaches."""
    ph, pw = padding
    need_h = (out_hw[0] - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1
    need_w = (out_hw[1] - 1) * stride[1] + dilation[1] * (kernel[1] - 1) + 1
    extra_h = max(0, need_h - (x.shape[2] + ph))
    extra_w = max(0, need_w - (x.shape[3] + pw))
    if ph == pw == extra_h == extra_w == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, extra_h), (pw, extra_w)), constant_values=fill)


def _pool_windows(xp, kernel, stride, dilation, out_hw):
    """xp: (N, C, Hp, Wp) -> view (N, C, OH, OW, KH, KW)."""
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(
        xp,
        shape=xp.shape[:2] + tuple(out_hw) + tuple(kernel),
        strides=(s_n, s_c, stride[0] * s_h, stride[1] * s_w, dilation[0] * s_h, dilation[1] * s_w),
        writeable=False,
    )


def _scatter(grid, contributions, kernel, stride, dilation, out_hw):
    """grid[..., window(i, j) tap (u, v)] += contributions[..., i, j, u, v], one strided add per tap."""
    oh, ow = out_hw
    for u in range(kernel[0]):
        rows = slice(u * dilation[0], u * dilation[0] + stride[0] * (oh - 1) + 1, stride[0])
        for v in range(kernel[1]):
            cols = slice(v * dilation[1], v * dilation[1] + stride[1] * (ow - 1) + 1, stride[1])
            grid[:, :, rows, cols] += contributions[..., u, v]
    return grid


# ---------------------------------------------------------------------------------------------- max pool
def max_pool2d_forward(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max pooling.

    x: (N, C, H, W)
    kernel_size, stride (default: kernel_size), padding, dilation: int or (int, int)
    Returns:
        out: (N, C, OH, OW)
        cache: the input shape and, per output, which window element was the maximum
    """
    x, kernel, stride, padding, dilation, out_hw = _validate_pool(x, kernel_size, stride, padding, dilation,
                                                                  ceil_mode)
    _check_no_empty_window(x.shape, kernel, stride, padding, dilation, out_hw)
    xp = _padded(x, padding, out_hw, kernel, stride, dilation, -np.inf)
    win = _pool_windows(xp, kernel, stride, dilation, out_hw)           # N,C,OH,OW,KH,KW
    flat = win.reshape(win.shape[:4] + (-1,))                             # N,C,OH,OW,KH*KW
    # argmax picks the first maximum in row-major window order, as PyTorch does; NaN propagates like torch
    argmax = np.argmax(flat, axis=-1)                                     # N,C,OH,OW
    out = np.take_along_axis(flat, argmax[..., None], axis=-1)[..., 0]
    cache = {"x_shape": x.shape, "padded_shape": xp.shape, "argmax": argmax, "kernel": kernel, "stride": stride,
             "padding": padding, "dilation": dilation}
    return out, cache


def max_pool2d_backward(dout, cache):
    """dout: (N, C, OH, OW) -> dx: (N, C, H, W); each gradient goes to the argmax of its window only."""
    argmax, kernel = cache["argmax"], cache["kernel"]
    dout = as_array(dout, "dout", 4, "(N, C, OH, OW)")
    if dout.shape != argmax.shape:
        raise ValueError(f"dout has shape {dout.shape}, but the forward output had shape {argmax.shape}")
    taps = np.arange(kernel[0] * kernel[1]).reshape(kernel)               # KH,KW
    routed = np.where(argmax[..., None, None] == taps, dout[..., None, None], 0)  # N,C,OH,OW,KH,KW
    grid = np.zeros(cache["padded_shape"], dtype=dout.dtype)
    _scatter(grid, routed, kernel, cache["stride"], cache["dilation"], argmax.shape[2:])
    (ph, pw), (h, w) = cache["padding"], cache["x_shape"][2:]
    return np.ascontiguousarray(grid[:, :, ph: ph + h, pw: pw + w])


# ---------------------------------------------------------------------------------------------- avg pool
def _avg_divisor(x_shape, padded_shape, padding, kernel, stride, out_hw, count_include_pad):
    """How many elements each window is divided by: (OH, OW)."""
    (h, w), (ph, pw) = x_shape[2:], padding
    inside = np.zeros(padded_shape[2:])
    if count_include_pad:
        inside[: h + 2 * ph, : w + 2 * pw] = 1  # the zero padding counts, the extra ceil_mode overhang does not
    else:
        inside[ph: ph + h, pw: pw + w] = 1
    win = _pool_windows(inside[None, None], kernel, stride, (1, 1), out_hw)
    return win.sum(axis=(-1, -2))[0, 0]


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Average pooling.

    x: (N, C, H, W)
    Returns:
        out: (N, C, OH, OW)
        cache
    """
    x, kernel, stride, padding, dilation, out_hw = _validate_pool(x, kernel_size, stride, padding, 1, ceil_mode)
    xp = _padded(x, padding, out_hw, kernel, stride, dilation, 0.0)
    win = _pool_windows(xp, kernel, stride, dilation, out_hw)              # N,C,OH,OW,KH,KW
    divisor = _avg_divisor(x.shape, xp.shape, padding, kernel, stride, out_hw, count_include_pad)  # OH,OW
    out = win.sum(axis=(-1, -2)) / divisor.astype(x.dtype)                 # counts are exact in float32 too
    cache = {"x_shape": x.shape, "padded_shape": xp.shape, "divisor": divisor, "kernel": kernel,
             "stride": stride, "padding": padding}
    return out, cache


def avg_pool2d_backward(dout, cache):
    """dout: (N, C, OH, OW) -> dx: (N, C, H, W); each window shares its gradient equally."""
    kernel, divisor = cache["kernel"], cache["divisor"]
    dout = as_array(dout, "dout", 4, "(N, C, OH, OW)")
    if dout.shape[2:] != divisor.shape or dout.shape[:2] != tuple(cache["x_shape"][:2]):
        raise ValueError(f"dout has shape {dout.shape}, but the forward output had shape "
                         f"{tuple(cache['x_shape'][:2]) + divisor.shape}")
    share = (dout / divisor.astype(dout.dtype))[..., None, None]                              # N,C,OH,OW,1,1
    share = np.broadcast_to(share, share.shape[:4] + tuple(kernel))
    grid = np.zeros(cache["padded_shape"], dtype=dout.dtype)
    _scatter(grid, share, kernel, cache["stride"], (1, 1), divisor.shape)
    (ph, pw), (h, w) = cache["padding"], cache["x_shape"][2:]
    return np.ascontiguousarray(grid[:, :, ph: ph + h, pw: pw + w])


# ----------------------------------------------------------------------------------- global avg pooling
def global_avg_pool2d_forward(x):
    """Mean over each whole feature map (torch: adaptive_avg_pool2d(x, 1)).

    x: (N, C, H, W)
    Returns: out (N, C, 1, 1), cache
    """
    x = as_array(x, "x", 4, "(N, C, H, W)")
    return x.mean(axis=(2, 3), keepdims=True), x.shape


def global_avg_pool2d_backward(dout, cache):
    """dout: (N, C, 1, 1) -> dx: (N, C, H, W)"""
    n, c, h, w = cache
    dout = as_array(dout, "dout", 4, "(N, C, 1, 1)")
    if dout.shape != (n, c, 1, 1):
        raise ValueError(f"dout must have shape {(n, c, 1, 1)}, got {dout.shape}")
    return np.broadcast_to(dout / (h * w), (n, c, h, w)).copy()
