"""2-D convolution and transposed convolution, forward and backward.

Two implementations of the same maths:

* ``conv2d_forward_naive`` / ``conv2d_backward_naive`` loop over every output pixel and read like the formula
  on the slide, ``out[n, f, i, j] = b[f] + sum_{c, u, v} w[f, c, u, v] * x_pad[n, c, i*S + u*D, j*S + v*D]``.
  They are slow on purpose and serve as the teaching version and as an oracle in tests.
* ``conv2d_forward`` / ``conv2d_backward`` turn the convolution into one matrix product (im2col): a strided
  *view* gathers every receptive field without copying, one copy lays them out as the columns of a matrix,
  and BLAS does the arithmetic. The backward runs the same product transposed and scatters the columns back
  (col2im) with one strided add per kernel tap.

A transposed convolution is the backward-data pass of a convolution, so ``conv_transpose2d_forward`` is col2im
and its backward is im2col: the two share the helpers below (Dumoulin & Visin, *A guide to convolution
arithmetic for deep learning*, 2016).

Shapes follow PyTorch: x (N, C, H, W); conv weights (F, C, KH, KW); transposed-conv weights (C_in, C_out, KH, KW).
"""

from __future__ import annotations

import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ...arithmetic import conv_output_size
from ._checks import as_array, check_vector, nhwc_hint, pair, result_dtype

__all__ = [
    "conv2d_forward",
    "conv2d_backward",
    "conv2d_forward_naive",
    "conv2d_backward_naive",
    "conv_transpose2d_forward",
    "conv_transpose2d_backward",
]


# ----------------------------------------------------------------------------------------------- helpers
def _check_conv_geometry(x_shape, kernel, stride, padding, dilation, what="kernel"):
    """Raise if the dilated kernel does not fit in the padded input."""
    (_, _, h, w) = x_shape
    for axis, n, k, p, d in (("height", h, kernel[0], padding[0], dilation[0]),
                             ("width", w, kernel[1], padding[1], dilation[1])):
        span = d * (k - 1) + 1
        if span > n + 2 * p:
            raise ValueError(
                f"{what} (size {k}, dilation {d}, so it spans {span}) is larger than the padded input {axis} "
                f"{n} + 2*{p} = {n + 2 * p}; x has shape {tuple(x_shape)}"
            )


_scratch = threading.local()


def _workspace(slot: str, shape, dtype) -> np.ndarray:
    """A reusable per-thread buffer for temporaries that never leave the function that asks for them.

    Convolution temporaries are tens of MB; a fresh array that size costs a page fault per 4 KB on first touch,
    which on a small machine takes as long as the matrix product itself. Reusing the buffer avoids that. Never
    return a workspace array or keep it in a cache: the next call overwrites it.
    """
    store = _scratch.__dict__.setdefault("buffers", {})
    size = int(np.prod(shape))
    buf = store.get((slot, np.dtype(dtype)))
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype=dtype)
        store[(slot, np.dtype(dtype))] = buf
    return buf[:size].reshape(shape)


def clear_workspace() -> None:
    """Free the buffers kept by _workspace in this thread."""
    _scratch.__dict__.pop("buffers", None)


def _windows(xp: np.ndarray, kernel, stride, dilation, out_hw) -> np.ndarray:
    """Every receptive field of xp as a read-only strided view, without copying.

    xp: (N, C, Hp, Wp), any memory layout
    Returns: (C, KH, KW, N, OH, OW) view; element [c, u, v, n, i, j] = xp[n, c, i*SH + u*DH, j*SW + v*DW]
    """
    n, c = xp.shape[:2]
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(
        xp,
        shape=(c, kh, kw, n, oh, ow),
        strides=(s_c, dh * s_h, dw * s_w, s_n, sh * s_h, sw * s_w),
        writeable=False,
    )


def _im2col(xp, kernel, stride, dilation, out_hw) -> np.ndarray:
    """xp: (N, C, Hp, Wp) -> cols: (C*KH*KW, N*OH*OW), one receptive field per column."""
    win = _windows(xp, kernel, stride, dilation, out_hw)  # C,KH,KW,N,OH,OW (a view)
    c, kh, kw, n, oh, ow = win.shape
    return np.ascontiguousarray(win).reshape(c * kh * kw, n * oh * ow)


def _col2im(cols, c, n, padded_hw, kernel, stride, dilation, out_hw) -> np.ndarray:
    """Adjoint of _im2col: scatter-add columns back onto the padded grid.

    cols: (C*KH*KW, N*OH*OW)
    Returns: (C, N, Hp, Wp), channel-first because that is the order the columns come in; a workspace
    buffer, so copy what you keep.
    """
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    cols = cols.reshape(c, kh, kw, n, oh, ow)
    grid = _workspace("col2im", (c, n) + tuple(padded_hw), cols.dtype)
    grid.fill(0)
    for u in range(kh):
        rows = slice(u * dh, u * dh + sh * (oh - 1) + 1, sh)
        for v in range(kw):
            grid[:, :, rows, v * dw: v * dw + sw * (ow - 1) + 1: sw] += cols[:, u, v]  # C,N,OH,OW
    return grid


def _pad(x: np.ndarray, padding) -> np.ndarray:
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def _validate_conv(x, w, b, stride, padding, dilation):
    x = as_array(x, "x", 4, "(N, C, H, W)")
    w = as_array(w, "w", 4, "(F, C, KH, KW)")
    if x.shape[1] != w.shape[1]:
        raise ValueError(
            f"x has {x.shape[1]} channels but w expects {w.shape[1]}: x.shape={x.shape}, "
            f"w.shape={w.shape} (w is (F, C, KH, KW))" + nhwc_hint(x.shape, w.shape[1])
        )
    if min(w.shape) < 1 or min(x.shape) < 1:
        raise ValueError(f"x and w must not be empty, got x.shape={x.shape}, w.shape={w.shape}")
    b = check_vector(b, "b", w.shape[0], f"the {w.shape[0]} filters of w (w.shape={w.shape})")
    stride = pair(stride, "stride", 1)
    padding = pair(padding, "padding", 0)
    dilation = pair(dilation, "dilation", 1)
    kernel = w.shape[2:]
    _check_conv_geometry(x.shape, kernel, stride, padding, dilation)
    return x, w, b, kernel, stride, padding, dilation


# -------------------------------------------------------------------------------------- fast convolution
def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """Convolution (cross-correlation, as in every framework) of a batch with F filters.

    x: (N, C, H, W)
    w: (F, C, KH, KW)
    b: (F,) or None
    stride, padding, dilation: int or (int, int); padding is zeros on both sides
    Returns:
        out: (N, F, OH, OW) with OH = floor((H + 2P - D(KH - 1) - 1) / S) + 1
        cache: what conv2d_backward needs
    """
    x, w, b, kernel, stride, padding, dilation = _validate_conv(x, w, b, stride, padding, dilation)
    n, f = x.shape[0], w.shape[0]
    dtype = result_dtype(x, w, b)
    out_hw = conv_output_size(x.shape[2:], kernel, stride, padding, dilation)

    xp = _pad(x.astype(dtype, copy=False), padding)             # N,C,Hp,Wp
    cols = _im2col(xp, kernel, stride, dilation, out_hw)        # C*KH*KW, N*OH*OW
    w_mat = w.astype(dtype, copy=False).reshape(f, -1)          # F, C*KH*KW
    prod = np.matmul(w_mat, cols, out=_workspace("gemm", (f, cols.shape[1]), dtype))  # F, N*OH*OW
    prod = prod.reshape(f, n, *out_hw).transpose(1, 0, 2, 3)    # N,F,OH,OW (a view)
    out = np.empty((n, f) + out_hw, dtype=dtype)
    if b is None:
        np.copyto(out, prod)
    else:
        np.add(prod, b.astype(dtype, copy=False).reshape(1, f, 1, 1), out=out)
    cache = {"x_shape": x.shape, "w": w_mat, "w_shape": w.shape, "cols": cols, "has_bias": b is not None,
             "stride": stride, "padding": padding, "dilation": dilation}
    return out, cache


def conv2d_backward(dout, cache):
    """Gradients of conv2d_forward.

    dout: (N, F, OH, OW)
    Returns: dx (N, C, H, W), dw (F, C, KH, KW), db (F,) or None when the forward had no bias
    """
    n, c, h, w_in = cache["x_shape"]
    f, _, kh, kw = cache["w_shape"]
    stride, padding, dilation = cache["stride"], cache["padding"], cache["dilation"]
    cols, w_mat = cache["cols"], cache["w"]
    dout = as_array(dout, "dout", 4, "(N, F, OH, OW)")
    if dout.shape[:2] != (n, f) or dout.shape[2] * dout.shape[3] * n != cols.shape[1]:
        raise ValueError(f"dout has shape {dout.shape}, which does not match the forward output (N={n}, F={f}, "
                         f"{cols.shape[1] // n} output pixels)")
    oh, ow = dout.shape[2:]

    dout_mat = _workspace("dout", (f, n) + (oh, ow), cols.dtype)
    np.copyto(dout_mat, dout.transpose(1, 0, 2, 3))                                     # F,N,OH,OW
    dout_mat = dout_mat.reshape(f, -1)                                                  # F, N*OH*OW
    db = dout_mat.sum(axis=1) if cache["has_bias"] else None                            # F
    dw = (dout_mat @ cols.T).reshape(f, c, kh, kw)                                      # F,C,KH,KW
    dcols = np.matmul(w_mat.T, dout_mat, out=_workspace("gemm", cols.shape, cols.dtype))  # C*KH*KW, N*OH*OW
    padded_hw = (h + 2 * padding[0], w_in + 2 * padding[1])
    dxp = _col2im(dcols, c, n, padded_hw, (kh, kw), stride, dilation, (oh, ow))       # C,N,Hp,Wp
    dx = dxp[:, :, padding[0]: padding[0] + h, padding[1]: padding[1] + w_in]          # C,N,H,W
    return dx.transpose(1, 0, 2, 3).copy(), dw, db  # copy: dxp is a workspace buffer


# ------------------------------------------------------------------------------------- naive convolution
def conv2d_forward_naive(x, w, b=None, stride=1, padding=0, dilation=1):
    """The slide's formula, one output pixel at a time. Same arguments and result as conv2d_forward."""
    x, w, b, kernel, stride, padding, dilation = _validate_conv(x, w, b, stride, padding, dilation)
    (n, _, h, w_in), f = x.shape, w.shape[0]
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    oh, ow = conv_output_size((h, w_in), kernel, stride, padding, dilation)
    xp = _pad(x, padding)
    out = np.zeros((n, f, oh, ow), dtype=result_dtype(x, w, b))
    for i in range(oh):
        for j in range(ow):
            # the receptive field of output pixel (i, j): every D-th pixel of a window starting at (i*S, j*S)
            field = xp[:, :, i * sh: i * sh + dh * (kh - 1) + 1: dh, j * sw: j * sw + dw * (kw - 1) + 1: dw]
            for k in range(f):
                out[:, k, i, j] = np.sum(field * w[k], axis=(1, 2, 3))
    if b is not None:
        out += b.reshape(1, f, 1, 1)
    cache = (x, w, b is not None, stride, padding, dilation)
    return out, cache


def conv2d_backward_naive(dout, cache):
    """Each output pixel sent its gradient back to the field it was computed from."""
    x, w, has_bias, (sh, sw), padding, (dh, dw) = cache
    (n, _, h, w_in), (f, _, kh, kw) = x.shape, w.shape
    xp = _pad(x, padding)
    dxp = np.zeros_like(xp, dtype=result_dtype(xp, dout))
    dw_ = np.zeros_like(w, dtype=result_dtype(w, dout))
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
            cols = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
            field = xp[:, :, rows, cols]                         # N,C,KH,KW
            for k in range(f):
                g = dout[:, k, i, j].reshape(n, 1, 1, 1)         # N,1,1,1
                dw_[k] += np.sum(g * field, axis=0)
                dxp[:, :, rows, cols] += g * w[k]
    dx = dxp[:, :, padding[0]: padding[0] + h, padding[1]: padding[1] + w_in]
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw_, db


# ------------------------------------------------------------------------------ transposed convolution
def _validate_conv_transpose(x, w, b, stride, padding, output_padding, dilation):
    x = as_array(x, "x", 4, "(N, C_in, H, W)")
    w = as_array(w, "w", 4, "(C_in, C_out, KH, KW)")
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"x has {x.shape[1]} channels but w expects {w.shape[0]}: x.shape={x.shape}, "
            f"w.shape={w.shape} (transposed-conv w is (C_in, C_out, KH, KW))" + nhwc_hint(x.shape, w.shape[0])
        )
    if min(w.shape) < 1 or min(x.shape) < 1:
        raise ValueError(f"x and w must not be empty, got x.shape={x.shape}, w.shape={w.shape}")
    b = check_vector(b, "b", w.shape[1], f"the {w.shape[1]} output channels of w (w.shape={w.shape})")
    stride = pair(stride, "stride", 1)
    padding = pair(padding, "padding", 0)
    output_padding = pair(output_padding, "output_padding", 0)
    dilation = pair(dilation, "dilation", 1)
    for i in (0, 1):
        if output_padding[i] >= max(stride[i], dilation[i]):
            raise ValueError(
                f"output_padding must be smaller than either stride or dilation, got output_padding="
                f"{output_padding}, stride={stride}, dilation={dilation}"
            )
    kernel = w.shape[2:]
    out_hw = tuple(
        (x.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (kernel[i] - 1) + output_padding[i] + 1
        for i in (0, 1)
    )
    if min(out_hw) < 1:
        raise ValueError(f"padding {padding} removes the whole output: x.shape={x.shape}, w.shape={w.shape} give an "
                         f"output of {out_hw}")
    return x, w, b, kernel, stride, padding, output_padding, dilation, out_hw


def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    """Transposed ("fractionally strided") convolution: each input pixel paints a weighted copy of the kernel.

    x: (N, C_in, H, W)
    w: (C_in, C_out, KH, KW)
    b: (C_out,) or None
    Returns:
        out: (N, C_out, OH, OW) with OH = (H - 1) S - 2P + D (KH - 1) + output_padding + 1
        cache
    """
    x, w, b, kernel, stride, padding, output_padding, dilation, out_hw = _validate_conv_transpose(
        x, w, b, stride, padding, output_padding, dilation)
    (n, c_in, h, w_in), c_out = x.shape, w.shape[1]
    dtype = result_dtype(x, w, b)
    w_mat = w.astype(dtype, copy=False).reshape(c_in, -1)                      # C_in, C_out*KH*KW
    x_mat = x.astype(dtype, copy=False).transpose(1, 0, 2, 3).reshape(c_in, -1)  # C_in, N*H*W
    cols = w_mat.T @ x_mat                                                     # C_out*KH*KW, N*H*W
    padded_hw = (out_hw[0] + 2 * padding[0], out_hw[1] + 2 * padding[1])
    grid = _col2im(cols, c_out, n, padded_hw, kernel, stride, dilation, (h, w_in))  # C_out,N,Hp,Wp
    out = grid[:, :, padding[0]: padding[0] + out_hw[0], padding[1]: padding[1] + out_hw[1]]
    out = out.transpose(1, 0, 2, 3)                                            # N,C_out,OH,OW
    # grid is a workspace buffer: the result must be a fresh array in either branch
    out = out.copy() if b is None else np.ascontiguousarray(out + b.astype(dtype, copy=False).reshape(1, c_out, 1, 1))
    cache = {"x_mat": x_mat, "x_shape": x.shape, "w": w_mat, "w_shape": w.shape, "has_bias": b is not None,
             "stride": stride, "padding": padding, "dilation": dilation}
    return out, cache


def conv_transpose2d_backward(dout, cache):
    """Gradients of conv_transpose2d_forward: an ordinary convolution of dout.

    dout: (N, C_out, OH, OW)
    Returns: dx (N, C_in, H, W), dw (C_in, C_out, KH, KW), db (C_out,) or None
    """
    n, c_in, h, w_in = cache["x_shape"]
    _, c_out, kh, kw = cache["w_shape"]
    dout = as_array(dout, "dout", 4, "(N, C_out, OH, OW)")
    if dout.shape[:2] != (n, c_out):
        raise ValueError(f"dout has shape {dout.shape}, expected (N={n}, C_out={c_out}, OH, OW)")
    x_mat, w_mat = cache["x_mat"], cache["w"]
    dout = dout.astype(x_mat.dtype, copy=False)
    doutp = _pad(dout, cache["padding"])                                                  # N,C_out,Hp,Wp
    cols = _im2col(doutp, (kh, kw), cache["stride"], cache["dilation"], (h, w_in))       # C_out*KH*KW, N*H*W
    dx = (w_mat @ cols).reshape(c_in, n, h, w_in).transpose(1, 0, 2, 3)                  # N,C_in,H,W
    dw = (x_mat @ cols.T).reshape(c_in, c_out, kh, kw)
    db = dout.sum(axis=(0, 2, 3)) if cache["has_bias"] else None
    return np.ascontiguousarray(dx), dw, db
