"""Convolution and transposed convolution against PyTorch, the naive loops and numerical gradients."""

import numpy as np
import pytest
from hypothesis import given
from strategies import conv_settings
from torch_ref import assert_close, compare, torch

import coursekit.nn.functional as F
from coursekit.gradcheck import check_layer_gradients

TF = torch.nn.functional


def _conv_inputs(s, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((s["n"], s["c"], s["h"], s["w"]))
    w = rng.standard_normal((s["f"], s["c"]) + s["kernel"])
    b = rng.standard_normal(s["f"]) if s["bias"] else None
    return x, w, b


@given(conv_settings())
def test_conv2d_matches_torch(s):
    x, w, b = _conv_inputs(s)
    st, pd, dl = s["stride"], s["padding"], s["dilation"]
    compare(lambda x, w, b: F.conv2d_forward(x, w, b, st, pd, dl), F.conv2d_backward,
            lambda x, w, b: TF.conv2d(x, w, b, st, pd, dl), [x, w, b], ["x", "w", "b"])


@given(conv_settings())
def test_naive_conv2d_matches_torch(s):
    x, w, b = _conv_inputs(s, seed=1)
    st, pd, dl = s["stride"], s["padding"], s["dilation"]
    compare(lambda x, w, b: F.conv2d_forward_naive(x, w, b, st, pd, dl), F.conv2d_backward_naive,
            lambda x, w, b: TF.conv2d(x, w, b, st, pd, dl), [x, w, b], ["x", "w", "b"])


@given(conv_settings(transposed=True))
def test_conv_transpose2d_matches_torch(s):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((s["n"], s["c"], s["h"], s["w"]))
    w = rng.standard_normal((s["c"], s["f"]) + s["kernel"])
    b = rng.standard_normal(s["f"]) if s["bias"] else None
    st, pd, op, dl = s["stride"], s["padding"], s["output_padding"], s["dilation"]
    compare(lambda x, w, b: F.conv_transpose2d_forward(x, w, b, st, pd, op, dl), F.conv_transpose2d_backward,
            lambda x, w, b: TF.conv_transpose2d(x, w, b, st, pd, op, 1, dl), [x, w, b], ["x", "w", "b"])


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), ((1, 2), (0, 1), (2, 1)), (3, 2, 2)])
def test_conv2d_gradcheck(stride, padding, dilation):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 2, 7, 6)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    errors = check_layer_gradients(lambda x, w, b: F.conv2d_forward(x, w, b, stride, padding, dilation),
                                   F.conv2d_backward, [x, w, b], names=["x", "w", "b"], samples=None)
    assert max(errors.values()) < 1e-7


def test_conv_transpose2d_gradcheck():
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((2, 3, 4, 3)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(2)
    errors = check_layer_gradients(lambda x, w, b: F.conv_transpose2d_forward(x, w, b, 2, 1, 1),
                                   F.conv_transpose2d_backward, [x, w, b], names=["x", "w", "b"], samples=None)
    assert max(errors.values()) < 1e-7


def test_conv2d_float32_stays_float32_and_matches_torch():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 8, 16, 16)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    out, cache = F.conv2d_forward(x, w, None, 1, 1)
    dx, dw, db = F.conv2d_backward(np.ones_like(out), cache)
    assert out.dtype == dx.dtype == dw.dtype == np.float32 and db is None
    ref = TF.conv2d(torch.tensor(x), torch.tensor(w), None, 1, 1).numpy()
    assert_close(out, ref, "float32 conv", rtol=1e-4)


def test_slide_example_two_filters_on_a_padded_rgb_image():
    # The worked example of the CNN deck: a 5x5x3 input, zero padding 1, two 3x3x3 filters, stride 2 -> 3x3x2.
    rng = np.random.default_rng(6)
    x = rng.integers(0, 3, size=(1, 3, 5, 5)).astype(float)
    w = rng.integers(-1, 2, size=(2, 3, 3, 3)).astype(float)
    b = np.array([1.0, 0.0])
    out, _ = F.conv2d_forward(x, w, b, stride=2, padding=1)
    assert out.shape == (1, 2, 3, 3)
    xp = np.pad(x[0], ((0, 0), (1, 1), (1, 1)))
    by_hand = np.sum(xp[:, 2:5, 0:3] * w[1]) + b[1]  # output row 1, column 0 of filter 1
    assert out[0, 1, 1, 0] == by_hand


def test_bias_none_returns_none_gradient():
    x, w = np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2))
    out, cache = F.conv2d_forward(x, w)
    assert F.conv2d_backward(out, cache)[2] is None


@pytest.mark.parametrize("n,c", [(1, 1), (1, 3), (2, 1), (3, 2)])
def test_results_never_alias_reused_workspace_buffers(n, c):
    # conv reuses scratch buffers between calls; a returned array must never be one of them
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((n, c, 5, 5)), rng.standard_normal((2, c, 3, 3))
    out1, cache1 = F.conv2d_forward(x, w)
    dx1, dw1, _ = F.conv2d_backward(np.ones_like(out1), cache1)
    t1, tcache1 = F.conv_transpose2d_forward(x, rng.standard_normal((c, 2, 3, 3)))
    snapshot = [a.copy() for a in (out1, dx1, dw1, t1)]
    out2, cache2 = F.conv2d_forward(x * 2, w * 3)
    F.conv2d_backward(np.full_like(out2, 5.0), cache2)
    F.conv_transpose2d_forward(x * 4, rng.standard_normal((c, 2, 3, 3)))
    for before, after in zip(snapshot, (out1, dx1, dw1, t1)):
        np.testing.assert_array_equal(before, after)
