"""Skip connections of the UNet slides: centre-crop the encoder's feature map and concatenate it with the
decoder's along channels (Ronneberger et al., 2015, Fig. 1: "copy and crop").

In the unpadded ("valid") UNet every convolution shrinks the map, so the encoder map is larger than the
up-sampled decoder map it joins; the crop keeps its centre. The backward hands each input its slice of the
gradient, with zeros where the crop threw pixels away.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_array

__all__ = ["center_crop", "crop_and_concat_forward", "crop_and_concat_backward"]


def _crop_box(big_hw, small_hw, name):
    (bh, bw), (sh, sw) = big_hw, small_hw
    if sh > bh or sw > bw:
        raise ValueError(f"cannot centre-crop {name} of spatial size {(bh, bw)} to the larger size {(sh, sw)}")
    top, left = (bh - sh) // 2, (bw - sw) // 2
    return slice(top, top + sh), slice(left, left + sw)


def center_crop(x, size):
    """x: (N, C, H, W); size: (h, w) -> the central (N, C, h, w) window (extra pixel, if any, at the bottom/right)."""
    x = as_array(x, "x", 4, "(N, C, H, W)")
    rows, cols = _crop_box(x.shape[2:], tuple(size), "x")
    return x[:, :, rows, cols]


def crop_and_concat_forward(skip, x):
    """skip: (N, C1, H1, W1) encoder features; x: (N, C2, H2, W2) with H2 <= H1, W2 <= W1.

    Returns: out (N, C1 + C2, H2, W2) = [crop(skip), x] along channels, cache
    """
    skip = as_array(skip, "skip", 4, "(N, C, H, W)")
    x = as_array(x, "x", 4, "(N, C, H, W)")
    if skip.shape[0] != x.shape[0]:
        raise ValueError(f"skip and x must have the same batch size, got skip.shape={skip.shape}, x.shape={x.shape}")
    rows, cols = _crop_box(skip.shape[2:], x.shape[2:], "skip")
    out = np.concatenate([skip[:, :, rows, cols], x], axis=1)
    return out, (skip.shape, x.shape[1], rows, cols)


def crop_and_concat_backward(dout, cache):
    """dout: (N, C1 + C2, H2, W2) -> dskip (N, C1, H1, W1), dx (N, C2, H2, W2)"""
    skip_shape, c2, rows, cols = cache
    dout = as_array(dout, "dout", 4, "(N, C, H, W)")
    c1 = skip_shape[1]
    if dout.shape[1] != c1 + c2:
        raise ValueError(f"dout has {dout.shape[1]} channels, expected {c1} + {c2}")
    dskip = np.zeros(skip_shape, dtype=dout.dtype)
    dskip[:, :, rows, cols] = dout[:, :c1]
    return dskip, dout[:, c1:].copy()
