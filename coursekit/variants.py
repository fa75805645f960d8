"""Convolution variants and the layers beyond conv/pool/BN that Lectures 1 and 2 teach, in NumPy.

Each function is the slide's formula written once, checked against PyTorch in tests/test_variants.py:

    conv_matrix            a convolution as one sparse matrix C (out = C x); its transpose is the transposed conv
    gabor_kernel           w(x, y) = alpha exp(-beta_x x'^2 - beta_y y'^2) cos(f x' + phi), x', y' rotated by tau
    grating_response       how strongly a filter answers a sinusoidal grating of one orientation and frequency
    orientation_selectivity  one number for how sharply a tuning curve prefers one orientation (0 none, 1 one)
    pixelcnn_mask          the masked convolution of PixelCNN (van den Oord et al., 2016): no look at the future
    causal_conv1d          WaveNet's causal, dilated 1-D convolution (van den Oord et al., 2016)
    depthwise_conv2d       one filter per input channel (groups = C); with a 1x1 conv: depthwise-separable
    separable_conv_macs    D_K^2 M N D_F^2 against D_K^2 M D_F^2 + M N D_F^2 multiply-adds (Howard et al., 2017)
    local_response_norm    LRN across channels as torch writes it (alpha divided by the window; AlexNet's does not)
    group_norm             group normalisation; layer norm (1 group) and instance norm (C groups) as special cases
    adaptive_max_pool2d    max pooling to a fixed output size, whatever the input size
    spatial_pyramid_pool   SPP (He et al., 2014): fixed-length features from any input size
    roi_max_pool           RoI pooling (Girshick, 2015): a fixed-size grid from each box of a feature map
"""

from __future__ import annotations

import numpy as np

from .nn.functional import conv2d_forward
from .nn.functional._checks import as_array

__all__ = ["conv_matrix", "gabor_kernel", "grating_response", "orientation_selectivity", "pixelcnn_mask",
           "causal_conv1d", "depthwise_conv2d", "separable_conv_macs", "local_response_norm", "group_norm",
           "adaptive_max_pool2d", "spatial_pyramid_pool", "roi_max_pool"]


def conv_matrix(kernel, input_size, stride=1, padding=0):
    """The matrix C with conv(x).ravel() == C @ x.ravel() for one channel and one filter.

    kernel: (KH, KW); input_size: (H, W) or an int. Returns (OH*OW, H*W): row r holds the kernel's weights at
    the input pixels that output r reads, zeros elsewhere (a sparse, Toeplitz-like matrix). C.T maps an
    (OH, OW) map back to (H, W): that is the transposed convolution with the same kernel.
    """
    kernel = as_array(kernel, "kernel", 2)
    h, w = (input_size, input_size) if np.isscalar(input_size) else tuple(input_size)
    # column j is the layer's response to the j-th unit image: the matrix is read off the operation itself
    basis = np.eye(h * w).reshape(h * w, 1, h, w)
    out, _ = conv2d_forward(basis, kernel[None, None].astype(np.float64), None, stride, padding)
    return out.reshape(h * w, -1).T


def gabor_kernel(size, tau=0.0, f=1.0, phi=0.0, beta_x=0.1, beta_y=0.1, alpha=1.0):
    """A (size, size) Gabor filter centred in the window; tau is the orientation in radians, f the angular
    frequency of the cosine along x' (radians per pixel), phi its phase, beta_x/beta_y the Gaussian's widths."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    c = (size - 1) / 2
    y, x = np.mgrid[:size, :size] - c
    xr = x * np.cos(tau) + y * np.sin(tau)
    yr = -x * np.sin(tau) + y * np.cos(tau)
    return alpha * np.exp(-beta_x * xr ** 2 - beta_y * yr ** 2) * np.cos(f * xr + phi)


def grating_response(kernel, theta, f):
    """Amplitude of a filter's response to the grating cos(f (x cos theta + y sin theta) + phase), the largest over
    the phase: |sum_xy w(x, y) exp(-i f (x cos theta + y sin theta))|, the magnitude of the kernel's Fourier
    transform at the grating's wave vector. Coordinates are centred on the kernel, as in gabor_kernel.

    kernel: (KH, KW); theta: orientation(s) in radians, a scalar or an array; f: angular frequency (radians per
    pixel). Returns an array shaped like theta.
    """
    kernel = as_array(kernel, "kernel", 2)
    if not np.isfinite(f) or f <= 0:
        raise ValueError(f"f must be a positive angular frequency, got {f!r}")
    theta = np.asarray(theta, dtype=np.float64)
    kh, kw = kernel.shape
    y, x = np.mgrid[:kh, :kw] - np.array([(kh - 1) / 2, (kw - 1) / 2])[:, None, None]
    phase = f * (x[..., None] * np.cos(theta.ravel()) + y[..., None] * np.sin(theta.ravel()))   # KH, KW, T
    response = np.abs(np.tensordot(kernel, np.exp(-1j * phase), axes=([0, 1], [0, 1])))        # T
    return response.reshape(theta.shape)


def orientation_selectivity(responses, theta):
    """How sharply a tuning curve prefers one orientation: |sum_t r_t exp(2i theta_t)| / sum_t r_t, which is 1 minus
    the circular variance of the responses over orientations (angles doubled, since theta and theta + pi are the same
    orientation). 0 for a filter that answers every orientation alike, 1 for one that answers a single orientation.

    responses: (..., T) non-negative responses at the T orientations theta (radians, equally spaced over [0, pi)).
    """
    responses = np.asarray(responses, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    if responses.shape[-1] != theta.shape[-1] or theta.ndim != 1:
        raise ValueError(f"responses {responses.shape} must end in one entry per orientation of theta {theta.shape}")
    if (responses < 0).any():
        raise ValueError("responses must be non-negative amplitudes")
    total = responses.sum(-1)
    return np.abs((responses * np.exp(2j * theta)).sum(-1)) / np.where(total > 0, total, 1.0)


def pixelcnn_mask(kernel_size, mask_type="A"):
    """(K, K) mask of 0/1: the pixels above, and left of the centre on its row. Type "A" (first layer) hides the
    centre too, so a pixel never sees itself; type "B" (later layers) lets it see its own features."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
    mask = np.zeros((kernel_size, kernel_size))
    c = kernel_size // 2
    mask[:c] = 1
    mask[c, :c + (mask_type == "B")] = 1
    return mask


def causal_conv1d(x, w, b=None, dilation=1):
    """x: (N, C, L), w: (F, C, K) -> (N, F, L). Output t reads x[t], x[t-d], ..., x[t-(K-1)d] only: the input is
    padded with d(K-1) zeros on the left and none on the right, so no output depends on a later input."""
    x = as_array(x, "x", 3, "(N, C, L)")
    w = as_array(w, "w", 3, "(F, C, K)")
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w has {w.shape[1]} input channels (w: {w.shape}) but x has {x.shape[1]} (x: {x.shape})")
    left = dilation * (w.shape[2] - 1)
    xp = np.pad(x, ((0, 0), (0, 0), (left, 0)))[:, :, None]                 # N, C, 1, L + left
    out, _ = conv2d_forward(xp, w[:, :, None], b, 1, 0, (1, dilation))       # N, F, 1, L
    return out[:, :, 0]


def depthwise_conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """x: (N, C, H, W), w: (C, 1, K, K) -> (N, C, OH, OW): channel c is convolved with filter c alone
    (PyTorch's Conv2d with groups=C)."""
    x = as_array(x, "x", 4, "(N, C, H, W)")
    w = as_array(w, "w", 4, "(C, 1, KH, KW)")
    if w.shape[0] != x.shape[1] or w.shape[1] != 1:
        raise ValueError(f"w must be (C, 1, KH, KW) with C = {x.shape[1]} (x: {x.shape}), got {w.shape}")
    maps = [conv2d_forward(x[:, c:c + 1], w[c:c + 1], None if b is None else np.asarray(b)[c:c + 1], stride,
                           padding, dilation)[0] for c in range(x.shape[1])]
    return np.concatenate(maps, axis=1)


def separable_conv_macs(kernel_size, in_channels, out_channels, output_size):
    """Multiply-adds of a standard conv and of its depthwise-separable replacement, per image.

    With D_K = kernel_size, M = in_channels, N = out_channels, D_F = output_size (square maps):
    standard D_K^2 M N D_F^2; depthwise D_K^2 M D_F^2; pointwise (1x1) M N D_F^2. Their ratio is 1/N + 1/D_K^2.
    """
    for v, name in ((kernel_size, "kernel_size"), (in_channels, "in_channels"), (out_channels, "out_channels"),
                    (output_size, "output_size")):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    dk2, m, n, df2 = kernel_size ** 2, in_channels, out_channels, output_size ** 2
    return {"standard": dk2 * m * n * df2, "depthwise": dk2 * m * df2, "pointwise": m * n * df2}


def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalisation as torch.nn.LocalResponseNorm writes it:
    b_c = a_c / (k + alpha/size * sum_{c' near c} a_c'^2)^beta, the sum over `size` neighbouring channels (zero
    beyond the first and last). x: (N, C, H, W).

    AlexNet (Krizhevsky et al., 2012, section 3.3) does not divide alpha by the window: its n=5, k=2, alpha=1e-4,
    beta=0.75 is this function with size=5, k=2, alpha=5e-4 (= 5 * 1e-4), beta=0.75."""
    x = as_array(x, "x", 4, "(N, C, H, W)")
    sq = np.pad(x ** 2, ((0, 0), (size // 2, (size - 1) // 2), (0, 0), (0, 0)))
    window = sum(sq[:, i:i + x.shape[1]] for i in range(size))
    return x / (k + alpha / size * window) ** beta


def group_norm(x, num_groups, eps=1e-5):
    """Normalise each sample over groups of C/num_groups channels and all positions (no affine part).
    num_groups=1 is layer norm over (C, H, W); num_groups=C is instance norm. x: (N, C, H, W)."""
    x = as_array(x, "x", 4, "(N, C, H, W)")
    n, c, h, w = x.shape
    if c % num_groups:
        raise ValueError(f"num_groups={num_groups} must divide the {c} channels of x: {x.shape}")
    g = x.reshape(n, num_groups, -1)                                          # N, G, C/G*H*W
    out = (g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + eps)
    return out.reshape(n, c, h, w)


def _bins(size, out):
    # PyTorch's adaptive pooling bins: [floor(i*size/out), ceil((i+1)*size/out)); they overlap when out > size/2
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def adaptive_max_pool2d(x, output_size):
    """x: (N, C, H, W) -> (N, C, oh, ow): the maximum over each cell of an oh x ow grid laid over the map."""
    x = as_array(x, "x", 4, "(N, C, H, W)")
    oh, ow = (output_size, output_size) if np.isscalar(output_size) else tuple(output_size)
    if oh > x.shape[2] or ow > x.shape[3]:
        raise ValueError(f"output_size {(oh, ow)} is larger than the map {x.shape[2:]} of x: {x.shape}")
    out = np.empty((*x.shape[:2], oh, ow), dtype=x.dtype)
    for i, (r0, r1) in enumerate(_bins(x.shape[2], oh)):
        for j, (c0, c1) in enumerate(_bins(x.shape[3], ow)):
            out[:, :, i, j] = x[:, :, r0:r1, c0:c1].max(axis=(2, 3))
    return out


def spatial_pyramid_pool(x, levels=(1, 2, 4)):
    """x: (N, C, H, W) -> (N, C * sum(l^2 for l in levels)): max pooling to 1x1, 2x2, 4x4 ... grids, flattened
    and concatenated, so the length does not depend on H and W."""
    x = as_array(x, "x", 4, "(N, C, H, W)")
    return np.concatenate([adaptive_max_pool2d(x, level).reshape(len(x), -1) for level in levels], axis=1)


def roi_max_pool(feature_map, boxes, output_size):
    """feature_map: (C, H, W); boxes: (R, 4) integer (x1, y1, x2, y2), corners included, in feature-map pixels.
    Returns (R, C, oh, ow): each box cut into an oh x ow grid, the maximum of each cell."""
    fmap = as_array(feature_map, "feature_map", 3, "(C, H, W)")
    boxes = np.asarray(boxes)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be (R, 4) as (x1, y1, x2, y2), got shape {boxes.shape}")
    crops = []
    for x1, y1, x2, y2 in boxes.astype(int):
        if not (0 <= x1 <= x2 < fmap.shape[2] and 0 <= y1 <= y2 < fmap.shape[1]):
            raise ValueError(f"box {(x1, y1, x2, y2)} is outside the feature map of shape {fmap.shape}")
        crops.append(adaptive_max_pool2d(fmap[None, :, y1:y2 + 1, x1:x2 + 1], output_size)[0])
    return np.stack(crops)
