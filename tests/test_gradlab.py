"""coursekit.gradlab: deep fully connected stacks for the backprop lecture. Initial weight variances against the
published formulas, per-layer activation spread against the variance argument, and weight gradients against
torch autograd."""

import math

import numpy as np
import pytest
from torch_ref import torch

import coursekit.nn as nn
from coursekit.gradlab import activation_stds, gradient_norms, make_stack


@pytest.mark.parametrize("weight_init,variance", [
    ("he", lambda n: 2 / n),                                     # He et al. 2015
    ("xavier", lambda n: 2 / (n + n)),                           # Glorot & Bengio 2010
    ("pytorch default", lambda n: 1 / (3 * n)),                  # U(-1/sqrt(n), 1/sqrt(n))
])
def test_initial_weight_variance(weight_init, variance):
    model = make_stack(3, 256, "relu", weight_init)
    for layer in model:
        if isinstance(layer, nn.Linear):
            assert abs(layer.weight.data.var() / variance(256) - 1) < 0.05
            assert np.all(layer.bias.data == 0)


def test_pytorch_default_matches_torch_linear():
    torch.manual_seed(0)
    ref = torch.nn.Linear(256, 256).weight.detach().numpy()
    ours = make_stack(1, 256, "relu", "pytorch default")[0].weight.data
    assert abs(ours.var() / ref.var() - 1) < 0.05 and abs(np.abs(ours).max() - np.abs(ref).max()) < 1e-3


def test_activation_spread_per_layer_follows_the_variance_argument():
    # per ReLU layer the variance is multiplied by n Var(w) / 2: 1 (He), 1/2 (Xavier), 1/6 (torch default)
    for weight_init, factor in (("he", 1.0), ("xavier", math.sqrt(0.5)), ("pytorch default", math.sqrt(1 / 6))):
        stds = activation_stds(make_stack(12, 256, "relu", weight_init), batch=256)
        measured = (stds[-1] / stds[0]) ** (1 / 11)
        assert abs(measured - factor) < 0.05, weight_init


def test_gradient_norms_match_torch_autograd():
    model = make_stack(4, 16, "tanh", "xavier", gain=1.2, seed=3)
    ours = gradient_norms(model, batch=8, seed=5)
    gen = np.random.default_rng(5)
    x, r = torch.tensor(gen.standard_normal((8, 16))), torch.tensor(gen.standard_normal((8, 16)))
    weights = [torch.tensor(m.weight.data, requires_grad=True) for m in model if isinstance(m, nn.Linear)]
    h = x
    for w in weights:
        h = torch.tanh(h @ w.T)
    ((h * r).sum() / 8).backward()
    assert np.allclose(ours, [w.grad.norm().item() for w in weights], rtol=1e-10)


def test_sigmoid_stack_vanishes_relu_he_does_not():
    sigmoid = gradient_norms(make_stack(10, 64, "sigmoid", "he"))
    relu = gradient_norms(make_stack(10, 64, "relu", "he"))
    assert sigmoid[0] / sigmoid[-1] < 1e-4
    assert 0.2 < relu[0] / relu[-1] < 5


def test_make_stack_rejects_bad_arguments():
    with pytest.raises(ValueError, match="activation"):
        make_stack(2, 4, "softplus")
    with pytest.raises(ValueError, match="weight_init"):
        make_stack(2, 4, "relu", "orthogonal")
    with pytest.raises(ValueError, match="depth"):
        make_stack(0, 4)


def test_init_scale_explorer_stores_its_first_figure_and_redraws():
    pytest.importorskip("ipywidgets")
    from coursekit.gradlab import init_scale_explorer

    box = init_scale_explorer(depth=3, width=8)
    out = box.children[-1]
    assert len(out.outputs) == 1 and "image/png" in out.outputs[0]["data"]   # saved with the notebook's widgets
    box.children[0].value = 0.8                                            # the callback redraws without error
    box.children[1].value = "sigmoid"
