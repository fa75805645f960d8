"""Activations, dropout, linear, losses and the UNet skip connection against torch."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch_ref import assert_close, compare, torch

import coursekit.nn.functional as F
from coursekit.gradcheck import check_layer_gradients

TF = torch.nn.functional
shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


@pytest.mark.parametrize("ours,theirs", [
    ((F.relu_forward, F.relu_backward), TF.relu),
    ((lambda x: F.leaky_relu_forward(x, 0.2), F.leaky_relu_backward), lambda x: TF.leaky_relu(x, 0.2)),
    ((F.leaky_relu_forward, F.leaky_relu_backward), TF.leaky_relu),
    ((F.tanh_forward, F.tanh_backward), torch.tanh),
    ((F.sigmoid_forward, F.sigmoid_backward), torch.sigmoid),
])
@given(shape=shapes, seed=st.integers(0, 999))
def test_activations_match_torch(ours, theirs, shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape) * 4
    x.flat[0] = 0.0  # the kink: torch's convention is a zero gradient at 0 for ReLU
    compare(ours[0], ours[1], theirs, [x], ["x"])


def test_sigmoid_is_stable_for_large_inputs():
    with np.errstate(over="raise"):
        out, _ = F.sigmoid_forward(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0])


@given(n=st.integers(1, 5), extra=st.lists(st.integers(1, 3), max_size=2), fin=st.integers(1, 6),
       fout=st.integers(1, 6), bias=st.booleans(), seed=st.integers(0, 99))
def test_linear_matches_torch(n, extra, fin, fout, bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *extra, fin))
    w, b = rng.standard_normal((fout, fin)), (rng.standard_normal(fout) if bias else None)
    compare(F.linear_forward, F.linear_backward, TF.linear, [x, w, b], ["x", "w", "b"])


def test_dropout_is_inverted_seeded_and_identity_in_eval():
    x = np.ones((200, 300))
    out, mask = F.dropout_forward(x, 0.3, rng=0)
    again, _ = F.dropout_forward(x, 0.3, rng=0)
    np.testing.assert_array_equal(out, again)
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(out[kept], 1 / 0.7)
    assert abs(out.mean() - 1.0) < 0.02  # the expectation is preserved
    dout = np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_array_equal(F.dropout_backward(dout, mask), dout * mask)
    ev, cache = F.dropout_forward(x, 0.3, training=False)
    np.testing.assert_array_equal(ev, x)
    np.testing.assert_array_equal(F.dropout_backward(dout, cache), dout)
    assert np.all(F.dropout_forward(x, 1.0)[0] == 0)
    with pytest.raises(ValueError, match="p must be in"):
        F.dropout_forward(x, 1.5)


def _loss_compare(ours, torch_loss, inputs, needs_grad=(True, False)):
    loss, grad = ours(*inputs)
    tensors = [torch.tensor(a, requires_grad=g and a.dtype.kind == "f") for a, g in zip(inputs, needs_grad)]
    ref = torch_loss(*tensors)
    ref.backward()
    assert_close(loss, ref.item(), "loss")
    assert_close(grad, tensors[0].grad.numpy(), "dlogits")


@given(n=st.integers(1, 6), c=st.integers(1, 6), seed=st.integers(0, 999), scale=st.floats(0.1, 50))
def test_softmax_cross_entropy_matches_torch(n, c, seed, scale):
    rng = np.random.default_rng(seed)
    logits, y = rng.standard_normal((n, c)) * scale, rng.integers(0, c, n)
    _loss_compare(F.softmax_cross_entropy, TF.cross_entropy, [logits, y])


@given(n=st.integers(1, 3), c=st.integers(2, 4), h=st.integers(1, 4), w=st.integers(1, 4), seed=st.integers(0, 99))
def test_per_pixel_cross_entropy_matches_torch(n, c, h, w, seed):
    rng = np.random.default_rng(seed)
    logits, y = rng.standard_normal((n, c, h, w)) * 3, rng.integers(0, c, (n, h, w))
    _loss_compare(F.softmax_cross_entropy, TF.cross_entropy, [logits, y])


@given(shape=shapes, seed=st.integers(0, 999))
def test_regression_and_binary_losses_match_torch(shape, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shape) * 5, rng.standard_normal(shape)
    _loss_compare(F.mse_loss, TF.mse_loss, [a, b])
    _loss_compare(F.l1_loss, TF.l1_loss, [a, b])
    _loss_compare(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits,
                  [a * 20, rng.uniform(0, 1, shape)])


def _torch_dice(logits, target, eps=1.0):
    p = torch.sigmoid(logits)
    return 1 - (2 * (p * target).sum() + eps) / (p.sum() + target.sum() + eps)


@given(shape=shapes, seed=st.integers(0, 999), eps=st.sampled_from([1.0, 1e-3]))
def test_dice_loss_matches_torch_and_gradcheck(shape, seed, eps):
    rng = np.random.default_rng(seed)
    logits, target = rng.standard_normal(shape) * 3, (rng.uniform(size=shape) > 0.5).astype(float)
    _loss_compare(lambda a, b: F.dice_loss(a, b, eps), lambda a, b: _torch_dice(a, b, eps), [logits, target])


def test_dice_loss_perfect_and_empty_masks():
    target = np.zeros((1, 1, 4, 4))
    target[..., 1:3, 1:3] = 1
    loss, _ = F.dice_loss(np.where(target > 0, 30.0, -30.0), target)
    assert loss < 1e-6
    empty_loss, _ = F.dice_loss(np.full((1, 1, 4, 4), -30.0), np.zeros((1, 1, 4, 4)))
    assert empty_loss < 1e-6  # both empty: eps makes it a perfect score, not 0/0


def test_initial_cross_entropy_is_log_c():
    # the slides' sanity check: with near-zero scores the loss starts at ln(C)
    logits = np.random.default_rng(0).normal(0, 1e-4, (64, 10))
    loss, _ = F.softmax_cross_entropy(logits, np.arange(64) % 10)
    assert abs(loss - np.log(10)) < 1e-3


def test_loss_bad_input():
    with pytest.raises(ValueError, match=r"lie in \[0, 3\)"):
        F.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="labels y must have shape"):
        F.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="non-finite"):
        F.softmax_cross_entropy(np.array([[0.0, np.nan]]), np.array([0]))
    with pytest.raises(ValueError, match="same shape"):
        F.mse_loss(np.zeros((2, 3)), np.zeros((3,)))
    with pytest.raises(ValueError, match="same shape"):
        F.dice_loss(np.zeros((2, 1, 4, 4)), np.zeros((2, 4, 4)))


def test_crop_and_concat_matches_torch():
    rng = np.random.default_rng(3)
    skip, x = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((2, 4, 5, 4))

    def reference(skip, x):
        top, left = (9 - 5) // 2, (8 - 4) // 2
        return torch.cat([skip[:, :, top:top + 5, left:left + 4], x], dim=1)

    compare(F.crop_and_concat_forward, F.crop_and_concat_backward, reference, [skip, x], ["skip", "x"])
    errs = check_layer_gradients(F.crop_and_concat_forward, F.crop_and_concat_backward, [skip, x], samples=30)
    assert max(errs.values()) < 1e-8
    with pytest.raises(ValueError, match="larger size"):
        F.crop_and_concat_forward(x, skip)
