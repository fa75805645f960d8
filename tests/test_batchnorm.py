"""Batch norm against torch: outputs, both backwards, running statistics, eval mode."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch_ref import assert_close, compare, torch

import coursekit.nn.functional as F
from coursekit.gradcheck import check_layer_gradients

TF = torch.nn.functional
BACKWARDS = {"closed_form": (F.batchnorm_backward, F.batchnorm2d_backward),
             "graph": (F.batchnorm_backward_graph, F.batchnorm2d_backward_graph)}


@pytest.mark.parametrize("which", BACKWARDS)
@given(n=st.integers(2, 9), d=st.integers(1, 6), affine=st.booleans(), seed=st.integers(0, 99))
def test_batchnorm1d_training_matches_torch(which, n, d, affine, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) * rng.uniform(0.1, 5) + rng.normal(0, 3)
    gamma, beta = (rng.standard_normal(d), rng.standard_normal(d)) if affine else (None, None)
    compare(lambda x, g, b: F.batchnorm_forward(x, g, b, None, None, True), BACKWARDS[which][0],
            lambda x, g, b: TF.batch_norm(x, None, None, g, b, True), [x, gamma, beta], ["x", "gamma", "beta"])


@pytest.mark.parametrize("which", BACKWARDS)
@given(n=st.integers(1, 4), c=st.integers(1, 4), h=st.integers(1, 5), w=st.integers(1, 5), seed=st.integers(0, 99))
def test_batchnorm2d_training_matches_torch(which, n, c, h, w, seed):
    if n * h * w < 2:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)) * 2 + 1
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    compare(lambda x, g, b: F.batchnorm2d_forward(x, g, b, None, None, True), BACKWARDS[which][1],
            lambda x, g, b: TF.batch_norm(x, None, None, g, b, True), [x, gamma, beta], ["x", "gamma", "beta"])


@pytest.mark.parametrize("momentum", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("spatial", [False, True])
def test_running_statistics_follow_torch_over_many_steps(momentum, spatial):
    rng = np.random.default_rng(0)
    shape = (6, 3, 4, 5) if spatial else (7, 3)
    rm, rv = np.zeros(3), np.ones(3)
    trm, trv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    forward = F.batchnorm2d_forward if spatial else F.batchnorm_forward
    for _ in range(5):
        x = rng.standard_normal(shape) * 3 + 2
        forward(x, None, None, rm, rv, True, momentum)
        TF.batch_norm(torch.tensor(x), trm, trv, None, None, True, momentum)
        assert_close(rm, trm.numpy(), "running_mean")
        assert_close(rv, trv.numpy(), "running_var (unbiased, as torch stores it)")
    # eval mode then uses them, and its backward treats them as constants
    x = rng.standard_normal(shape)
    g, b = rng.standard_normal(3), rng.standard_normal(3)
    for backward in (F.batchnorm2d_backward, F.batchnorm2d_backward_graph) if spatial else (
            F.batchnorm_backward, F.batchnorm_backward_graph):
        compare(lambda x, g, b: forward(x, g, b, rm, rv, False), backward,
                lambda x, g, b: TF.batch_norm(x, trm, trv, g, b, False), [x, g, b], ["x", "gamma", "beta"])


def test_graph_and_closed_form_agree_and_pass_gradcheck():
    rng = np.random.default_rng(1)
    x, g, b = rng.standard_normal((8, 5)), rng.standard_normal(5), rng.standard_normal(5)
    out, cache = F.batchnorm_forward(x, g, b, None, None)
    dout = rng.standard_normal(out.shape)
    for a, c in zip(F.batchnorm_backward(dout, cache), F.batchnorm_backward_graph(dout, cache)):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)
    for backward in (F.batchnorm_backward, F.batchnorm_backward_graph):
        errs = check_layer_gradients(lambda x, g, b: F.batchnorm_forward(x, g, b, None, None), backward, [x, g, b],
                                     names=["x", "gamma", "beta"], samples=None)
        assert max(errs.values()) < 1e-6


def test_normalised_output_has_zero_mean_unit_variance():
    x = np.random.default_rng(2).standard_normal((50, 4)) * 7 - 3
    out, _ = F.batchnorm_forward(x, np.ones(4), np.zeros(4), None, None)
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(0), 1, atol=1e-4)


def test_bad_input():
    with pytest.raises(ValueError, match="gamma must have shape"):
        F.batchnorm_forward(np.ones((4, 3)), np.ones(2), np.zeros(3), None, None)
    with pytest.raises(ValueError, match="more than one value"):
        F.batchnorm_forward(np.ones((1, 3)), None, None, None, None)
    with pytest.raises(ValueError, match="eval mode"):
        F.batchnorm_forward(np.ones((4, 3)), None, None, None, None, training=False)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        F.batchnorm2d_forward(np.ones((4, 3)), None, None, None, None)
    with pytest.raises(ValueError, match="running_mean"):
        F.batchnorm_forward(np.ones((4, 3)), None, None, np.zeros(2), np.ones(3))
