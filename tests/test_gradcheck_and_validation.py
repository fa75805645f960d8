"""Numerical gradients, rel_error, and the ValueErrors that bad input must raise."""

import numpy as np
import pytest

import coursekit.nn.functional as F
from coursekit.gradcheck import GradientCheckError, check_gradient, check_layer_gradients, numerical_gradient, rel_error


def test_numerical_gradient_of_known_functions():
    x = np.array([1.0, -2.0, 3.0])
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v ** 3), x), 3 * x ** 2, rtol=1e-8)
    df = np.array([1.0, 2.0, -1.0])
    np.testing.assert_allclose(numerical_gradient(np.sin, x, df), np.cos(x) * df, rtol=1e-8)
    np.testing.assert_array_equal(x, [1.0, -2.0, 3.0])  # restored after perturbing


def test_rel_error():
    assert rel_error(np.ones(3), np.ones(3)) == 0
    assert abs(rel_error(np.array([1.0]), np.array([1.1])) - 0.1 / 2.1) < 1e-12
    with pytest.raises(ValueError, match="same shape"):
        rel_error(np.ones(3), np.ones((3, 1)))


def test_check_gradient_names_the_worst_element():
    x = np.random.default_rng(0).standard_normal((4, 5))
    wrong = 2 * x
    wrong[2, 3] += 0.5
    with pytest.raises(GradientCheckError, match=r"index \(2, 3\)"):
        check_gradient(lambda v: np.sum(v ** 2), x, wrong, samples=None)
    assert check_gradient(lambda v: np.sum(v ** 2), x, 2 * x, samples=None) < 1e-8


def test_check_layer_gradients_catches_a_broken_backward():
    def broken_backward(dout, cache):
        dx, dw, db = F.linear_backward(dout, cache)
        return dx, dw * 1.01, db

    rng = np.random.default_rng(1)
    args = [rng.standard_normal((3, 4)), rng.standard_normal((2, 4)), rng.standard_normal(2)]
    with pytest.raises(GradientCheckError, match="gradient of w"):
        check_layer_gradients(F.linear_forward, broken_backward, args, names=["x", "w", "b"])


@pytest.mark.parametrize("call,match", [
    (lambda: F.conv2d_forward(np.ones((3, 8, 8)), np.ones((2, 3, 3, 3))), r"x must be a 4-d array \(N, C, H, W\)"),
    (lambda: F.conv2d_forward(np.ones((1, 3, 8, 8)), np.ones((2, 4, 3, 3))), "x has 3 channels but w expects 4"),
    (lambda: F.conv2d_forward(np.ones((1, 3, 4, 4)), np.ones((2, 3, 7, 7))), "larger than the padded input"),
    (lambda: F.conv2d_forward(np.ones((1, 3, 4, 4)), np.ones((2, 3, 3, 3)), dilation=3), "spans 7"),
    (lambda: F.conv2d_forward(np.ones((1, 3, 8, 8)), np.ones((2, 3, 3, 3)), stride=0), "stride must be >= 1"),
    (lambda: F.conv2d_forward(np.ones((1, 3, 8, 8)), np.ones((2, 3, 3, 3)), padding=-1), "padding must be >= 0"),
    (lambda: F.conv2d_forward(np.ones((1, 3, 8, 8)), np.ones((2, 3, 3, 3)), np.ones(3)), r"b must have shape \(2,\)"),
    (lambda: F.conv2d_forward(np.ones((1, 3, 8, 8)), np.ones((2, 3, 3, 3)), stride=(1, 2, 3)), "int or a pair"),
    (lambda: F.conv_transpose2d_forward(np.ones((1, 3, 4, 4)), np.ones((2, 3, 3, 3))), "x has 3 channels"),
    (lambda: F.conv_transpose2d_forward(np.ones((1, 3, 4, 4)), np.ones((3, 2, 3, 3)), stride=2, output_padding=2),
     "output_padding must be smaller"),
    (lambda: F.max_pool2d_forward(np.ones((1, 1, 2, 2)), 3), "larger than the padded input"),
    (lambda: F.max_pool2d_forward(np.ones((1, 1, 8, 8)), 2, padding=2), "at most half"),
    (lambda: F.avg_pool2d_forward(np.ones((8, 8)), 2), "4-d array"),
    (lambda: F.linear_forward(np.ones((2, 5)), np.ones((3, 4))), "in_features=4"),
    (lambda: F.relu_backward(np.ones(3), F.relu_forward(np.ones(4))[1]), "dout has shape"),
])
def test_bad_input_raises_value_error_naming_argument_and_shapes(call, match):
    with pytest.raises(ValueError, match=match):
        call()
