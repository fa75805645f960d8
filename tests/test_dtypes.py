"""The NumPy core's dtype rules (the table in coursekit.nn.functional's docstring), its refusals of complex and
non-numeric input, and the NHWC hint on a channel mismatch. NumPy only: runs in the numpy-only environment."""

import numpy as np
import pytest

import coursekit.nn as nn
import coursekit.nn.functional as F

rng = np.random.default_rng(0)
X = rng.standard_normal((2, 3, 6, 6))
W = rng.standard_normal((4, 3, 3, 3))
B = rng.standard_normal(4)


def _naive_conv(x, w, b):
    """The slide's formula, loop by loop, in float64: the reference the conversions are compared with."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    out = np.zeros((n, f, h - kh + 1, wd - kw + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            patch = x[:, None, :, i:i + kh, j:j + kw]                    # N,1,C,KH,KW
            out[:, :, i, j] = (patch * w[None]).sum(axis=(2, 3, 4)) + b
    return out


# dtype given -> dtype computed in (the docstring's table)
RULES = [(np.float32, np.float32), (np.float64, np.float64), (np.float16, np.float32), (np.longdouble, np.float64),
         (np.int8, np.float64), (np.int32, np.float64), (np.int64, np.float64), (np.uint8, np.float64)]


@pytest.mark.parametrize("given,computed", RULES)
def test_conv_computes_in_the_documented_dtype(given, computed):
    x, w, b = (X * 4).astype(given), (W * 4).astype(given), (B * 4).astype(given)
    out, cache = F.conv2d_forward(x, w, b)
    assert out.dtype == computed
    # the values are those of the given array, converted: float16's rounding happens once, at the input
    reference = _naive_conv(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64))
    tol = 1e-4 if computed == np.float32 else 1e-10
    np.testing.assert_allclose(out, reference, rtol=tol, atol=tol * np.abs(reference).max())
    dx, dw, db = F.conv2d_backward(np.ones(out.shape, dtype=given), cache)
    assert dx.dtype == dw.dtype == db.dtype == computed


@pytest.mark.parametrize("given,computed", RULES)
def test_every_kind_of_layer_follows_the_rules(given, computed):
    x4 = (X * 4).astype(given)
    x2 = (X.reshape(2, -1)[:, :8] * 4).astype(given)
    outs = {
        "relu": F.relu_forward(x4)[0], "tanh": F.tanh_forward(x4)[0], "sigmoid": F.sigmoid_forward(x4)[0],
        "max_pool": F.max_pool2d_forward(x4, 2)[0], "avg_pool": F.avg_pool2d_forward(x4, 2)[0],
        "linear": F.linear_forward(x2, np.ones((3, 8), dtype=given))[0],
        "batchnorm": F.batchnorm_forward(x2, None, None, None, None)[0],
        "batchnorm2d": F.batchnorm2d_forward(x4, None, None, None, None)[0],
        "dropout": F.dropout_forward(x4, 0.5, rng=np.random.default_rng(0))[0],
        "mse_grad": F.mse_loss(x4, np.zeros(x4.shape, dtype=given))[1],
    }
    for name, out in outs.items():
        assert out.dtype == computed, (name, out.dtype)


def test_lists_and_python_numbers_are_float64():
    out, _ = F.conv2d_forward(X.tolist(), W.tolist(), B.tolist())
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, _naive_conv(X, W, B), rtol=1e-10, atol=1e-10)
    assert F.relu_forward([1, -2, 3])[0].dtype == np.float64                     # a list of ints
    np.testing.assert_array_equal(F.relu_forward([1, -2, 3])[0], [1.0, 0.0, 3.0])
    assert F.relu_forward(2.5)[0].dtype == np.float64                            # a Python float


def test_mixed_float_dtypes_give_the_wider_one():
    out, _ = F.conv2d_forward(X.astype(np.float32), W, B.astype(np.float32))
    assert out.dtype == np.float64
    out, _ = F.linear_forward(X.reshape(2, -1).astype(np.float32), np.ones((3, 108), dtype=np.float32))
    assert out.dtype == np.float32


def test_float32_and_float64_inputs_are_not_copied():
    from coursekit.nn.functional._checks import as_array

    for dtype in (np.float32, np.float64):
        x = X.astype(dtype)
        assert as_array(x, "x") is x
    x16 = X.astype(np.float16)
    assert as_array(x16, "x").dtype == np.float32 and x16.dtype == np.float16    # the caller's array is untouched


def test_parameters_and_layers_follow_the_rules():
    assert nn.Parameter([1, 2]).data.dtype == np.float64
    assert nn.Parameter(np.ones(2, dtype=np.float16)).data.dtype == np.float32
    assert nn.Parameter(np.ones(2, dtype=np.float32)).data.dtype == np.float32
    assert nn.Conv2d(3, 4, 3).weight.data.dtype == np.float32                  # torch.nn's default
    assert nn.Conv2d(3, 4, 3, dtype=np.float64).weight.data.dtype == np.float64
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    assert model((X * 255).astype(np.uint8)).dtype == np.float64               # uint8 pixels -> float64
    with pytest.raises(ValueError, match="Parameter data is complex"):
        nn.Parameter(np.ones(2, dtype=complex))


@pytest.mark.parametrize("bad,match", [
    (np.ones((2, 3, 6, 6), dtype=np.complex128), r"x is complex \(complex128\).*real numbers only"),
    (np.ones((2, 3, 6, 6), dtype=np.complex64), r"x is complex \(complex64\)"),
    (np.full((2, 3, 6, 6), "1.0"), r"x must hold numbers, got dtype <U3 \(strings\)"),
    (np.full((2, 3, 6, 6), None, dtype=object), r"x must hold numbers, got dtype object \(Python objects\)"),
    (np.ones((2, 3, 6, 6), dtype=bool), r"x is a boolean array"),
    (np.zeros((2, 3, 6, 6), dtype="datetime64[s]"), r"dtype datetime64\[s\] \(dates\)"),
    ([[[[1.0, 2.0]]], [[[1.0]]]], r"x must be a rectangular array of numbers"),
])
def test_complex_and_non_numeric_input_is_refused_naming_the_argument(bad, match):
    with pytest.raises(ValueError, match=match):
        F.conv2d_forward(bad, W, B)


@pytest.mark.parametrize("call,match", [
    (lambda: F.conv2d_forward(X, W.astype(complex), B), r"^w is complex"),
    (lambda: F.conv2d_forward(X, W, B.astype(complex)), r"^b is complex"),
    (lambda: F.conv2d_backward(np.ones((2, 4, 4, 4), dtype=complex), F.conv2d_forward(X, W, B)[1]), r"^dout is"),
    (lambda: F.linear_forward(np.ones((2, 3)), np.full((2, 3), "a")), r"^w must hold numbers"),
    (lambda: F.mse_loss(np.ones(3), np.ones(3, dtype=complex)), r"^target is complex"),
    (lambda: F.mse_loss(np.ones(3, dtype=bool), np.ones(3)), r"^pred is a boolean array"),
    (lambda: F.softmax_cross_entropy(np.ones((2, 3), dtype=complex), [0, 1]), r"^logits is complex"),
    (lambda: F.softmax_cross_entropy(np.ones((2, 3)), np.array([0, 1], dtype=complex)), r"labels y must be integer"),
    (lambda: F.batchnorm_forward(np.ones((4, 2)), None, None, np.zeros(2, dtype=complex), np.ones(2),
                                 training=False), r"^running_mean is complex"),
])
def test_every_argument_is_checked(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bool_is_a_mask_for_loss_targets():
    logits = rng.standard_normal((2, 1, 4, 4))
    mask = logits > 0.3
    for loss in (F.binary_cross_entropy_with_logits, F.dice_loss, F.mse_loss, F.l1_loss):
        (value, grad), (reference, reference_grad) = loss(logits, mask), loss(logits, mask.astype(np.float64))
        assert value == pytest.approx(reference, rel=1e-12)
        np.testing.assert_allclose(grad, reference_grad, rtol=1e-12)


def test_nhwc_input_gets_a_hint():
    nhwc = np.ones((1, 8, 8, 3))                                                  # channels last
    with pytest.raises(ValueError, match=r"x has 8 channels but w expects 3.*x's last axis has 3: is x NHWC "
                                         r"\(N, H, W, C\)\? coursekit expects NCHW.*x\.transpose\(0, 3, 1, 2\)"):
        F.conv2d_forward(nhwc, W)
    with pytest.raises(ValueError, match="is x NHWC"):
        nn.Conv2d(3, 4, 3)(nhwc)
    with pytest.raises(ValueError, match="is x NHWC"):
        F.conv_transpose2d_forward(nhwc, np.ones((3, 2, 3, 3)))
    with pytest.raises(ValueError, match="is x NHWC"):
        nn.BatchNorm2d(3)(np.ones((2, 8, 8, 3)))
    # the transposed array is accepted and gives the NCHW answer
    assert F.conv2d_forward(nhwc.transpose(0, 3, 1, 2), W)[0].shape == (1, 4, 6, 6)


def test_no_hint_when_the_last_axis_does_not_fit_either():
    with pytest.raises(ValueError, match="x has 5 channels but w expects 3") as info:
        F.conv2d_forward(np.ones((1, 5, 8, 8)), W)
    assert "NHWC" not in str(info.value)


def test_the_rules_are_documented():
    doc = F.__doc__
    for phrase in ("Dtype rules", "float16", "float32", "integers", "lists", "bool", "complex", "NHWC"):
        assert phrase in doc, phrase
