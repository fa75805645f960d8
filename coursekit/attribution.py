"""What a network's output and its units respond to (Lecture 8b): saliency, occlusion, feature maps, receptive boxes.

    saliency_map     |d score / d pixel|, the largest over colour channels (Simonyan, Vedaldi & Zisserman, 2014)
    occlusion_map    how much the score drops when a grey patch hides each part of the image (Zeiler & Fergus, 2014)
    layer_outputs    the outputs of chosen layers of an nn.Sequential, in one forward pass
    receptive_box    the input pixels a unit of a convolutional stack can see, as a box
    top_activations  the k strongest positions of one channel over a batch of feature maps

A score function maps a batch of images (N, C, H, W) to one number per image (N,), e.g. a class's logit; the maps
are computed without changing the network's mode or parameters. PyTorch side: imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ._extras import require

# one line naming the extra when torch is missing, before the import fails
require(__name__, "torch", extra="torch")

import torch  # noqa: E402

__all__ = ["saliency_map", "occlusion_map", "layer_outputs", "receptive_box", "top_activations"]


def _images(images) -> torch.Tensor:
    x = torch.as_tensor(images, dtype=torch.float32)
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(x.shape)}")
    return x


def _scores(score_fn: Callable, x: torch.Tensor) -> torch.Tensor:
    scores = score_fn(x)
    if not isinstance(scores, torch.Tensor) or scores.shape != x.shape[:1]:
        shape = tuple(scores.shape) if hasattr(scores, "shape") else type(scores).__name__
        raise ValueError(f"score_fn must return one score per image, shape ({len(x)},), got {shape}")
    return scores


def saliency_map(score_fn: Callable, images) -> np.ndarray:
    """(N, C, H, W) -> (N, H, W): max over channels of |d score_n / d images[n, c, h, w]|.

    The gradient says how much a small change of each pixel would change the score: the pixels the score is most
    sensitive to. Images are independent (score n depends only on image n), so one backward pass of the summed
    scores gives every image's gradient.
    """
    x = _images(images).clone().requires_grad_(True)
    with torch.enable_grad():
        scores = _scores(score_fn, x)
        (grad,) = torch.autograd.grad(scores.sum(), x)
    return grad.abs().amax(dim=1).numpy()


def occlusion_map(score_fn: Callable, images, patch: int, stride: int | None = None, fill: float = 0.0,
                  batch_size: int = 256) -> np.ndarray:
    """(N, C, H, W) -> (N, OH, OW): score(image) - score(image with a patch x patch square set to fill at each
    position), the square moved by stride (patch when None); OH = (H - patch) // stride + 1.

    A large drop means the hidden part mattered for the score; a negative one that hiding it made the score rise.
    """
    x = _images(images)
    n, _, h, w = x.shape
    stride = patch if stride is None else stride
    if not (isinstance(patch, int) and 1 <= patch <= min(h, w)) or not (isinstance(stride, int) and stride >= 1):
        raise ValueError(f"patch must be an integer from 1 to {min(h, w)} and stride >= 1 for images {tuple(x.shape)}, "
                         f"got patch={patch!r}, stride={stride!r}")
    positions = [(i, j) for i in range(0, h - patch + 1, stride) for j in range(0, w - patch + 1, stride)]
    oh, ow = (h - patch) // stride + 1, (w - patch) // stride + 1
    drops = np.zeros((n, len(positions)))
    with torch.no_grad():
        base = _scores(score_fn, x).numpy()
        for k in range(n):
            for start in range(0, len(positions), batch_size):
                chunk = positions[start:start + batch_size]
                hidden = x[k:k + 1].repeat(len(chunk), 1, 1, 1)
                for m, (i, j) in enumerate(chunk):
                    hidden[m, :, i:i + patch, j:j + patch] = fill
                drops[k, start:start + len(chunk)] = base[k] - _scores(score_fn, hidden).numpy()
    return drops.reshape(n, oh, ow)


def layer_outputs(network: torch.nn.Sequential, x, indices: Sequence[int]) -> dict[int, torch.Tensor]:
    """{index: output of network[index]} for the requested indices, from one forward pass without gradients (the
    forward stops after the last one). x: the network's input (N, C, H, W)."""
    wanted = sorted(set(indices))
    if not wanted or wanted[0] < 0 or wanted[-1] >= len(network):
        raise ValueError(f"indices must lie in 0..{len(network) - 1} for this network, got {list(indices)}")
    outputs, a = {}, _images(x)
    with torch.no_grad():
        for index, layer in enumerate(network):
            a = layer(a)
            if index in wanted:
                outputs[index] = a.clone()      # a later in-place ReLU must not change what was kept
            if index == wanted[-1]:
                break
    return outputs


def receptive_box(layers: Sequence[tuple[int, int, int]], i: int, j: int) -> tuple[float, float, float, float]:
    """The input region unit (row i, column j) of the last layer can see: (top, left, bottom, right) in pixels,
    bottom and right exclusive, possibly reaching past the image into the padding.

    layers: (kernel_size, stride, padding) of each convolution or pooling, input side first. Each layer widens the
    field by (kernel - 1) times the product of the earlier strides (the jump) and shifts its start by padding
    times the jump.
    """
    jump, start, size = 1, 0.0, 1
    for k, s, p in layers:
        if k < 1 or s < 1 or p < 0:
            raise ValueError(f"each layer needs kernel_size >= 1, stride >= 1, padding >= 0, got {(k, s, p)}")
        start -= p * jump
        size += (k - 1) * jump
        jump *= s
    top, left = start + i * jump, start + j * jump
    return top, left, top + size, left + size


def top_activations(maps, channel: int, k: int) -> list[tuple[int, int, int, float]]:
    """The k largest values of one channel over a batch of maps (N, C, H, W), at most one per image: a list of
    (image, row, column, value), strongest first."""
    a = torch.as_tensor(maps)
    if a.ndim != 4 or not 0 <= channel < a.shape[1]:
        raise ValueError(f"maps must be (N, C, H, W) and channel in 0..C-1, got {tuple(a.shape)} and {channel}")
    per_image = a[:, channel].flatten(1)                 # N, H*W
    values, where = per_image.max(dim=1)
    order = torch.argsort(values, descending=True)[:k]
    width = a.shape[3]
    return [(int(n), int(where[n]) // width, int(where[n]) % width, float(values[n])) for n in order]
