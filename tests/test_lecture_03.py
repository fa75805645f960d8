"""Lecture 3 (03_backprop.ipynb): its exercises as a student meets them, and the library results its examples rest
on (the regression checks that used to be asserts in the notebook's cells)."""

import numpy as np
from lecture_exercises import ROOT, exercise_tests

from coursekit.gradcheck import numerical_gradient
from coursekit.nn import functional as F

LECTURE = ROOT / "lectures" / "03_backprop.ipynb"

# what a student who worked the numeric exercises by hand types (the numbers of the collapsed answers)
ANSWERS = {
    "cell-05": "dz_dx_1_1 = -0.7358",
    "cell-11": "jacobian_shape_2_1 = (1, 16, 32, 32, 1, 3, 32, 32)\njacobian_entries_2_1 = 50_331_648",
    "cell-17": "dW_shape_3_1 = (64, 128)\nmacs_3_1 = 262_144",
    "cell-22": "interior_gradient_4_2 = 1.0",
    "cell-27": "y_5_2 = [-1, -1, -1]\ndx_5_2 = [1, -1, 2, -2]\ndw_5_2 = [7, 10]",
    "cell-37": "values_per_channel_6_2 = 25_088\nlearned_parameters_6_2 = 128",
    "cell-50": "evaluations_8_3 = 20_000",
    "cell-60": "untrained_loss_9_1 = 2.303",
    "cell-69": "small_after_100 = 8e-31\nlarge_after_100 = 131.5",
    "cell-78": "he_std_11_1 = 0.0589\ndefault_bound_11_1 = 0.0417\ndefault_std_11_1 = 0.0241",
}


test_student_view, test_solved, test_sabotaged = exercise_tests(LECTURE, ANSWERS, write_it_yourself=4)


# ---- the examples' numbers, re-computed from the library (nbval compares the printed ones)

def test_batchnorm_input_gradient_sums_to_zero_per_channel():
    # Exercise 6.3's fact: shifting a channel's inputs alike leaves the output unchanged
    g = np.random.default_rng(0)
    x = g.standard_normal((8, 4, 5, 5)) * 3 + 1
    _, cache = F.batchnorm2d_forward(x, g.standard_normal(4), g.standard_normal(4), None, None)
    dx, _, _ = F.batchnorm2d_backward(g.standard_normal(x.shape), cache)
    np.testing.assert_allclose(dx.sum(axis=(0, 2, 3)), 0, atol=1e-10)


def test_conv_backward_shapes_of_section_5():
    x, w = np.zeros((1, 3, 5, 5)), np.zeros((2, 3, 3, 3))
    y, cache = F.conv2d_forward(x, w, np.zeros(2))
    dx, dw, db = F.conv2d_backward(np.ones(y.shape), cache)
    assert y.shape == (1, 2, 3, 3) and dx.shape == x.shape and dw.shape == w.shape and db.shape == (2,)


def test_the_worked_1d_convolution_gradients_by_numerical_differences():
    x, w, delta = np.array([1.0, 2, 3, 4]), np.array([1.0, -1]), np.array([1.0, 0, 2])

    def out(x_, w_):
        return F.conv2d_forward(x_.reshape(1, 1, 1, -1), w_.reshape(1, 1, 1, -1))[0].ravel()

    np.testing.assert_allclose(numerical_gradient(lambda v: out(v, w), x.copy(), delta), [1, -1, 2, -2], atol=1e-8)
    np.testing.assert_allclose(numerical_gradient(lambda v: out(x, v), w.copy(), delta), [7, 10], atol=1e-8)
