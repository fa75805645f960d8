"""Max, average and global average pooling against PyTorch."""

import numpy as np
from hypothesis import given
from strategies import pool_settings
from torch_ref import compare, torch

import coursekit.nn.functional as F

TF = torch.nn.functional


def _x(s, seed=0):
    # distinct values: ties inside a window would make max pooling's gradient routing a matter of convention
    rng = np.random.default_rng(seed)
    size = s["n"] * s["c"] * s["h"] * s["w"]
    return rng.permutation(size).reshape(s["n"], s["c"], s["h"], s["w"]) / size + rng.normal(0, 1e-3, 1)


@given(pool_settings())
def test_max_pool2d_matches_torch(s):
    k, st, p, d, cm = s["kernel"], s["stride"], s["padding"], s["dilation"], s["ceil_mode"]
    compare(lambda x: F.max_pool2d_forward(x, k, st, p, d, cm), F.max_pool2d_backward,
            lambda x: TF.max_pool2d(x, k, st, p, d, ceil_mode=cm), [_x(s)], ["x"])


@given(pool_settings(with_dilation=False), __import__("hypothesis").strategies.booleans())
def test_avg_pool2d_matches_torch(s, count_include_pad):
    k, st, p, cm = s["kernel"], s["stride"], s["padding"], s["ceil_mode"]
    compare(lambda x: F.avg_pool2d_forward(x, k, st, p, cm, count_include_pad), F.avg_pool2d_backward,
            lambda x: TF.avg_pool2d(x, k, st, p, cm, count_include_pad), [_x(s, 1)], ["x"])


def test_max_pool_slide_example():
    # 4x4 single channel, 2x2 window, stride 2: the deck's worked example (max of each quadrant).
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=float)[None, None]
    out, cache = F.max_pool2d_forward(x, 2)
    np.testing.assert_array_equal(out[0, 0], [[6, 8], [3, 4]])
    dx = F.max_pool2d_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 0, 0, 0], [0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 0, 1]])
    avg, _ = F.avg_pool2d_forward(x, 2)
    np.testing.assert_allclose(avg[0, 0], [[3.25, 5.25], [2.0, 2.0]])


def test_global_avg_pool_matches_torch():
    x = np.random.default_rng(2).standard_normal((3, 4, 5, 6))
    compare(F.global_avg_pool2d_forward, F.global_avg_pool2d_backward,
            lambda x: TF.adaptive_avg_pool2d(x, 1), [x], ["x"])
