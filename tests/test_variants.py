"""Convolution variants and extra layers (coursekit.variants) against PyTorch and the slides' worked numbers."""

import numpy as np
import pytest
from torch_ref import torch

from coursekit import variants
from coursekit.nn.functional import conv2d_forward, conv_transpose2d_forward

TF = torch.nn.functional
rng = np.random.default_rng(0)


def test_conv_matrix_reproduces_the_slides_sparse_matrix_and_its_transpose():
    kernel = np.array([[1.0, 2.0], [2.0, 1.0]])
    c = variants.conv_matrix(kernel, 3)
    assert c.tolist() == [[1, 2, 0, 2, 1, 0, 0, 0, 0], [0, 1, 2, 0, 2, 1, 0, 0, 0],
                          [0, 0, 0, 1, 2, 0, 2, 1, 0], [0, 0, 0, 0, 1, 2, 0, 2, 1]]
    # the slides' transposed example: a 2x2 input [[1, 2], [2, 4]] painted onto 3x3
    assert (c.T @ np.array([1, 2, 2, 4])).reshape(3, 3).tolist() == [[1, 4, 4], [4, 13, 10], [4, 10, 4]]


@pytest.mark.parametrize("n, k, stride, padding", [(5, 3, 1, 0), (6, 3, 2, 1), (7, 2, 3, 0)])
def test_conv_matrix_is_the_convolution_and_its_transpose_the_transposed_convolution(n, k, stride, padding):
    kernel = rng.standard_normal((k, k))
    x = rng.standard_normal((n, n))
    c = variants.conv_matrix(kernel, n, stride, padding)
    out, _ = conv2d_forward(x[None, None], kernel[None, None], None, stride, padding)
    np.testing.assert_allclose(c @ x.ravel(), out.ravel(), atol=1e-12)
    y = rng.standard_normal(out.shape)
    back = TF.conv_transpose2d(torch.from_numpy(y), torch.from_numpy(kernel[None, None]), None, stride, padding,
                               output_padding=n - ((out.shape[-1] - 1) * stride - 2 * padding + k))
    np.testing.assert_allclose(c.T @ y.ravel(), back.numpy().ravel(), atol=1e-12)
    ours, _ = conv_transpose2d_forward(y, kernel[None, None], None, stride, padding,
                                       n - ((out.shape[-1] - 1) * stride - 2 * padding + k))
    np.testing.assert_allclose(c.T @ y.ravel(), ours.ravel(), atol=1e-12)


def test_gabor_kernel_follows_the_formula_and_its_orientation():
    g = variants.gabor_kernel(9, tau=0.0, f=1.2, phi=0.3, beta_x=0.05, beta_y=0.2, alpha=2.0)
    y, x = 1.0, -2.0                                           # pixel (row 5, col 2) relative to the centre (4, 4)
    assert g[5, 2] == pytest.approx(2.0 * np.exp(-0.05 * x ** 2 - 0.2 * y ** 2) * np.cos(1.2 * x + 0.3))
    # a quarter turn swaps the roles of rows and columns
    g90 = variants.gabor_kernel(9, tau=np.pi / 2, f=1.2, phi=0.3, beta_x=0.05, beta_y=0.2, alpha=2.0)
    np.testing.assert_allclose(g90, g.T, atol=1e-12)


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_pixelcnn_mask_never_reads_a_later_pixel(mask_type):
    mask = variants.pixelcnn_mask(5, mask_type)
    w = rng.standard_normal((1, 1, 5, 5)) * mask
    x = rng.standard_normal((1, 1, 8, 8))
    out, _ = conv2d_forward(x, w, None, 1, 2)
    changed = x.copy()
    changed[0, 0, 4, 4] += 10.0                                 # change one pixel ...
    diff = np.abs(conv2d_forward(changed, w, None, 1, 2)[0] - out)[0, 0].ravel()
    # ... outputs in raster order before it never move; the pixel's own output moves only for type B
    assert np.all(diff[:4 * 8 + 4] == 0)
    assert (diff[4 * 8 + 4] > 0) == (mask_type == "B")
    with pytest.raises(ValueError, match="odd"):
        variants.pixelcnn_mask(4)


def test_causal_conv1d_matches_torch_and_ignores_the_future():
    x = rng.standard_normal((2, 3, 16))
    w = rng.standard_normal((4, 3, 2))
    b = rng.standard_normal(4)
    for d in (1, 2, 4):
        ours = variants.causal_conv1d(x, w, b, dilation=d)
        ref = TF.conv1d(TF.pad(torch.from_numpy(x), (d, 0)), torch.from_numpy(w), torch.from_numpy(b), dilation=d)
        np.testing.assert_allclose(ours, ref.numpy(), atol=1e-12)
    later = x.copy()
    later[:, :, 10:] = 0.0
    np.testing.assert_array_equal(variants.causal_conv1d(later, w, b, 4)[:, :, :10],
                                  variants.causal_conv1d(x, w, b, 4)[:, :, :10])
    with pytest.raises(ValueError, match="input channels"):
        variants.causal_conv1d(x, w[:, :2])


def test_depthwise_conv_matches_torch_groups_and_the_separable_cost():
    x = rng.standard_normal((2, 5, 9, 9))
    w = rng.standard_normal((5, 1, 3, 3))
    b = rng.standard_normal(5)
    ref = TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), 2, 1, 1, groups=5)
    np.testing.assert_allclose(variants.depthwise_conv2d(x, w, b, stride=2, padding=1), ref.numpy(), atol=1e-12)
    macs = variants.separable_conv_macs(3, 32, 64, 56)
    assert macs["standard"] == 3 * 3 * 32 * 64 * 56 * 56
    ratio = (macs["depthwise"] + macs["pointwise"]) / macs["standard"]
    assert ratio == pytest.approx(1 / 64 + 1 / 9)
    with pytest.raises(ValueError, match=r"\(C, 1, KH, KW\)"):
        variants.depthwise_conv2d(x, w[:4])


def test_normalisation_layers_match_torch():
    x = rng.standard_normal((3, 6, 5, 4))
    t = torch.from_numpy(x)
    np.testing.assert_allclose(variants.local_response_norm(x, 5, alpha=0.5, beta=0.75, k=2.0),
                               TF.local_response_norm(t, 5, alpha=0.5, beta=0.75, k=2.0).numpy(), atol=1e-12)
    np.testing.assert_allclose(variants.local_response_norm(x, 4), TF.local_response_norm(t, 4).numpy(), atol=1e-12)
    np.testing.assert_allclose(variants.group_norm(x, 3), TF.group_norm(t, 3).numpy(), atol=1e-10)
    np.testing.assert_allclose(variants.group_norm(x, 1), TF.layer_norm(t, x.shape[1:]).numpy(), atol=1e-10)
    np.testing.assert_allclose(variants.group_norm(x, 6), TF.instance_norm(t).numpy(), atol=1e-10)
    with pytest.raises(ValueError, match="must divide"):
        variants.group_norm(x, 4)


@pytest.mark.parametrize("h, w, out", [(7, 5, 2), (13, 9, (4, 3)), (6, 6, 6)])
def test_adaptive_and_pyramid_pooling_match_torch(h, w, out):
    x = rng.standard_normal((2, 3, h, w))
    np.testing.assert_array_equal(variants.adaptive_max_pool2d(x, out),
                                  TF.adaptive_max_pool2d(torch.from_numpy(x), out).numpy())
    spp = variants.spatial_pyramid_pool(x, (1, 2, 4) if min(h, w) >= 4 else (1, 2))
    assert spp.shape[1] == 3 * (1 + 4 + 16 if min(h, w) >= 4 else 5)


def test_roi_pool_by_hand():
    fmap = np.arange(64.0).reshape(1, 8, 8)
    pooled = variants.roi_max_pool(fmap, [[0, 0, 3, 3], [2, 4, 7, 7]], 2)
    # box 1: rows 0-3, cols 0-3 -> maxima of its 2x2 quarters; box 2: rows 4-7, cols 2-7 (cells 2 rows x 3 cols)
    assert pooled[0, 0].tolist() == [[9, 11], [25, 27]]
    assert pooled[1, 0].tolist() == [[44, 47], [60, 63]]
    with pytest.raises(ValueError, match="outside the feature map"):
        variants.roi_max_pool(fmap, [[0, 0, 8, 3]], 2)


def test_grating_response_is_the_strongest_answer_over_every_phase():
    kernel = rng.standard_normal((5, 3))
    theta, f = np.deg2rad([0.0, 30.0, 95.0, 170.0]), 1.3
    y, x = np.mgrid[:5, :3] - np.array([2.0, 1.0])[:, None, None]
    phases = np.linspace(0, 2 * np.pi, 3601)
    for t, got in zip(theta, variants.grating_response(kernel, theta, f)):
        # the filter laid on gratings of every phase, by brute force
        answers = [np.sum(kernel * np.cos(f * (x * np.cos(t) + y * np.sin(t)) + p)) for p in phases]
        assert abs(got - max(answers)) < 1e-5
    assert variants.grating_response(kernel, np.zeros((2, 3)), f).shape == (2, 3)
    with pytest.raises(ValueError, match="f must be"):
        variants.grating_response(kernel, 0.0, 0.0)


def test_a_gabor_filter_prefers_its_own_orientation_and_is_selective():
    theta = np.deg2rad(np.arange(0, 180, 15))
    for tau in np.deg2rad([0, 45, 90, 135]):
        r = variants.grating_response(variants.gabor_kernel(15, tau=tau, f=0.8, beta_x=0.03, beta_y=0.03), theta, 0.8)
        assert np.isclose(theta[r.argmax()], tau)
        assert variants.orientation_selectivity(r, theta) > 0.7


def test_orientation_selectivity_of_flat_and_single_orientation_tuning():
    theta = np.deg2rad(np.arange(0, 180, 15))
    assert variants.orientation_selectivity(np.ones(12), theta) < 1e-12
    one = np.zeros(12)
    one[4] = 2.0
    assert np.isclose(variants.orientation_selectivity(one, theta), 1.0)
    # theta and theta + 180 degrees are the same orientation: two opposite peaks are as selective as one
    assert np.isclose(variants.orientation_selectivity([1.0, 1.0], np.deg2rad([10.0, 190.0])), 1.0)
    assert variants.orientation_selectivity(np.stack([np.ones(12), one]), theta).shape == (2,)
    with pytest.raises(ValueError, match="non-negative"):
        variants.orientation_selectivity(-one, theta)


def test_alexnets_lrn_is_torchs_with_alpha_times_the_window():
    # AlexNet's formula (no division of alpha by n) written out, against torch with alpha * n
    x = rng.standard_normal((2, 7, 3, 4)) * 20
    n, k, alpha, beta = 5, 2.0, 1e-4, 0.75
    sq = np.pad(x ** 2, ((0, 0), (2, 2), (0, 0), (0, 0)))
    alexnet = x / (k + alpha * sum(sq[:, i:i + 7] for i in range(n))) ** beta
    torch_lrn = TF.local_response_norm(torch.from_numpy(x), n, alpha * n, beta, k).numpy()
    np.testing.assert_allclose(alexnet, torch_lrn, rtol=1e-12)
    np.testing.assert_allclose(alexnet, variants.local_response_norm(x, n, alpha * n, beta, k), rtol=1e-12)
    assert not np.allclose(alexnet, variants.local_response_norm(x, n, alpha, beta, k), rtol=1e-3)
