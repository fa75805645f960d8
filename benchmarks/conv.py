"""Convolution speed: coursekit's im2col convolution against torch CPU's conv2d and against the naive loops.

Forward + backward (dx, dw, db) in float32, in one process on the same threads. Prints the time of each and the
ratio to torch per layer shape, then the geometric mean of the ratios. Also times the batch-norm backward in its
closed form against the step-by-step graph version.

The "GEMM floor" column times only the three matrix products an im2col convolution cannot avoid (forward
W @ cols, dw = dout @ cols^T, dcols = W^T @ dout) with NumPy's BLAS on the same shapes. No im2col implementation
can beat it, so its ratio to torch is the best any such implementation could reach on this machine.

    python benchmarks/conv.py            (make bench runs every benchmark)
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from _timing import best_time, geometric_mean  # noqa: E402

import coursekit.nn.functional as F  # noqa: E402

# (name, N, C, H, W, F, K, stride, padding, dilation)
SHAPES = [
    ("first layer 3->32, 3x3", 32, 3, 32, 32, 32, 3, 1, 1, 1),
    ("32->64, 3x3", 32, 32, 32, 32, 64, 3, 1, 1, 1),
    ("64->128, 3x3", 32, 64, 16, 16, 128, 3, 1, 1, 1),
    ("128->256, 3x3", 16, 128, 8, 8, 256, 3, 1, 1, 1),
    ("16->32, 5x5 stride 2", 16, 16, 64, 64, 32, 5, 2, 2, 1),
    ("32->32, 3x3 dilation 2", 16, 32, 32, 32, 32, 3, 1, 2, 2),
    ("UNet-like 64->64 on 64x64", 4, 64, 64, 64, 64, 3, 1, 1, 1),
]
NAIVE_SHAPE = ("naive check 8->16, 3x3", 4, 8, 16, 16, 16, 3, 1, 1, 1)


def _inputs(n, c, h, w, f, k, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    wt = rng.standard_normal((f, c, k, k), dtype=np.float32) * 0.1
    b = rng.standard_normal(f, dtype=np.float32)
    return x, wt, b


def time_ours(x, w, b, stride, padding, dilation, forward=F.conv2d_forward, backward=F.conv2d_backward):
    out, _ = forward(x, w, b, stride, padding, dilation)
    dout = np.ones_like(out)

    def step():
        o, cache = forward(x, w, b, stride, padding, dilation)
        backward(dout, cache)

    return best_time(step)


def time_gemm_floor(x, w, b, stride, padding, dilation):
    """The three matrix products of an im2col forward+backward, alone, on the shapes that layer gives them."""
    out, cache = F.conv2d_forward(x, w, b, stride, padding, dilation)
    cols, w_mat = cache["cols"], cache["w"]
    dout = np.ascontiguousarray(np.ones_like(out).transpose(1, 0, 2, 3)).reshape(w_mat.shape[0], -1)
    prod, dcols = np.empty((w_mat.shape[0], cols.shape[1]), cols.dtype), np.empty_like(cols)

    def products():
        np.matmul(w_mat, cols, out=prod)
        dout @ cols.T
        np.matmul(w_mat.T, dout, out=dcols)

    return best_time(products)


def time_torch(x, w, b, stride, padding, dilation):
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    dout = torch.ones_like(torch.nn.functional.conv2d(xt, wt, bt, stride, padding, dilation))

    def step():
        out = torch.nn.functional.conv2d(xt, wt, bt, stride, padding, dilation)
        dx, dw, db = torch.autograd.grad(out, (xt, wt, bt), dout)

    return best_time(step)


def batchnorm_speedup():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 64, 16, 16), dtype=np.float32)
    g, b = np.ones(64, np.float32), np.zeros(64, np.float32)
    out, cache = F.batchnorm2d_forward(x, g, b, None, None)
    dout = rng.standard_normal(out.shape, dtype=np.float32)
    closed = best_time(lambda: F.batchnorm2d_backward(dout, cache))
    graph = best_time(lambda: F.batchnorm2d_backward_graph(dout, cache))
    return closed, graph


def main():
    threads = torch.get_num_threads()
    print(f"conv2d forward+backward, float32, torch {torch.__version__} on {threads} thread(s), "
          f"numpy {np.__version__}")
    print(f"{'layer':<28} {'input':<18} {'coursekit ms':>12} {'torch ms':>9} {'ratio':>6} "
          f"{'GEMM floor ms':>13} {'floor ratio':>11}")
    ratios, floors = [], []
    for name, n, c, h, w, f, k, s, p, d in SHAPES:
        x, wt, b = _inputs(n, c, h, w, f, k)
        ours, theirs = time_ours(x, wt, b, s, p, d), time_torch(x, wt, b, s, p, d)
        floor = time_gemm_floor(x, wt, b, s, p, d)
        ratios.append(ours / theirs)
        floors.append(floor / theirs)
        print(f"{name:<28} {str((n, c, h, w)):<18} {ours * 1e3:12.2f} {theirs * 1e3:9.2f} {ours / theirs:6.2f} "
              f"{floor * 1e3:13.2f} {floor / theirs:11.2f}")
    print(f"geometric mean ratio coursekit / torch: {geometric_mean(ratios):.2f}  (target <= 1.5, stretch 1.25)")
    print(f"geometric mean ratio of the GEMM floor / torch: {geometric_mean(floors):.2f}  (the best an im2col "
          "convolution on NumPy's BLAS could reach here)")

    name, n, c, h, w, f, k, s, p, d = NAIVE_SHAPE
    x, wt, b = _inputs(n, c, h, w, f, k)
    fast = time_ours(x, wt, b, s, p, d)
    naive = time_ours(x, wt, b, s, p, d, F.conv2d_forward_naive, F.conv2d_backward_naive)
    print(f"{name}: naive loops {naive * 1e3:.1f} ms, im2col {fast * 1e3:.2f} ms -> im2col is {naive / fast:.0f}x "
          "faster")

    closed, graph = batchnorm_speedup()
    print(f"batchnorm2d backward on (64, 64, 16, 16): closed form {closed * 1e3:.2f} ms, graph {graph * 1e3:.2f} ms "
          f"-> closed form is {graph / closed:.2f}x faster")


if __name__ == "__main__":
    main()
