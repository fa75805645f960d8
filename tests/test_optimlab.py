"""coursekit.optimlab: the surfaces' gradients, the optimizer runner, the learning-rate sweep and the loss-curve
trainer of the optimisation lecture, each against an independent reference (torch autograd and torch.optim, a
numerical gradient, closed forms)."""

import math

import numpy as np
import pytest
from torch_ref import torch

import coursekit.optim as optim
from coursekit.gradcheck import numerical_gradient, rel_error
from coursekit.optimlab import SADDLE, VALLEY, mlp_losses, run_optimizer, tune_learning_rate


@pytest.mark.parametrize("surface", [VALLEY, SADDLE], ids=lambda s: s.name)
def test_surface_gradient_matches_numerical(surface):
    for point in ([0.3, -0.7], [-1.2, 0.4], list(surface.start)):
        w = np.array(point, dtype=np.float64)
        numeric = numerical_gradient(lambda v: surface.f(v[0], v[1]), w.copy())
        assert rel_error(surface.grad(w), numeric) < 1e-7


def test_valley_curvatures_and_saddle_hessian():
    hess = np.array([(VALLEY.grad(e * 1e-4) - VALLEY.grad(-e * 1e-4)) / 2e-4 for e in np.eye(2)])
    assert np.allclose(np.sort(np.linalg.eigvalsh(hess)), [0.04, 4.0])        # condition number 100
    hess = np.array([(SADDLE.grad(e * 1e-4) - SADDLE.grad(-e * 1e-4)) / 2e-4 for e in np.eye(2)])
    assert np.allclose(hess, np.diag([2.0, -1.0]), atol=1e-6)
    assert SADDLE.loss((0.0, 1.0)) == -0.25 and VALLEY.loss((0.0, 0.0)) == 0.0


def test_run_optimizer_follows_torch_adam():
    path = run_optimizer(lambda p: optim.Adam(p, lr=0.1), VALLEY, 25)
    w = torch.tensor(VALLEY.start, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.1)
    for t in range(25):
        opt.zero_grad()
        w.grad = torch.tensor(VALLEY.grad(w.detach().numpy()))
        opt.step()
        assert np.allclose(path[t + 1], w.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert path.shape == (26, 2) and np.array_equal(path[0], VALLEY.start)


def test_run_optimizer_rejects_bad_input():
    with pytest.raises(ValueError, match="steps"):
        run_optimizer(lambda p: optim.SGD(p, lr=0.1), VALLEY, -1)
    with pytest.raises(ValueError, match="start"):
        run_optimizer(lambda p: optim.SGD(p, lr=0.1), VALLEY, 3, start=(1.0, 2.0, 3.0))


def test_tune_learning_rate_finds_the_stability_limit_of_sgd():
    # SGD on a quadratic diverges for lr > 2 / lambda_max = 0.5; the best grid value must lie below it
    grid = [0.01, 0.1, 0.3, 0.45, 0.6, 1.0]
    best, scores = tune_learning_rate(lambda p, lr: optim.SGD(p, lr=lr), VALLEY, 100, grid)
    assert best == 0.45
    assert scores[0.6] > 1e3 and scores[1.0] > 1e3                 # diverged (inf once it overflows)
    assert scores[0.01] > scores[0.1] > scores[0.45]
    with pytest.raises(ValueError, match="lrs"):
        tune_learning_rate(lambda p, lr: optim.SGD(p, lr=lr), VALLEY, 10, [])
    with pytest.raises(ValueError, match="last"):
        tune_learning_rate(lambda p, lr: optim.SGD(p, lr=lr), VALLEY, 10, [0.1], last=11)


def _mlp_reference(x, y, lr, epochs, batch_size, hidden, seed):
    """The same training in torch autograd, with the same initial weights and batch order."""
    rng = np.random.default_rng(seed)
    w1 = torch.tensor(rng.standard_normal((x.shape[1], hidden)) * math.sqrt(2 / x.shape[1]), requires_grad=True)
    w2 = torch.tensor(rng.standard_normal((hidden, 10)) * math.sqrt(1 / hidden), requires_grad=True)
    b1 = torch.zeros(hidden, dtype=torch.float64, requires_grad=True)
    b2 = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w1, b1, w2, b2], lr=lr)
    history = []
    for _ in range(epochs):
        order = rng.permutation(len(y))
        losses = []
        for i in range(0, len(y), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad()
            logits = torch.relu(torch.tensor(x[idx]) @ w1 + b1) @ w2 + b2
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y[idx]))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        history.append(np.mean(losses))
    return np.array(history)


def test_mlp_losses_match_torch_autograd():
    rng = np.random.default_rng(3)
    x, y = rng.random((90, 12)), rng.integers(0, 10, 90)
    ours = mlp_losses(x, y, lr=0.5, epochs=4, batch_size=16, hidden=8, seed=2, num_classes=10)
    ref = _mlp_reference(x, y, 0.5, 4, 16, 8, 2)
    assert np.allclose(ours, ref, rtol=1e-10)


def test_mlp_losses_learning_rate_regimes():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = digits.data / 16.0, digits.target
    low, good, too_high = (mlp_losses(x, y, lr, epochs=10) for lr in (0.001, 0.3, 2.0))
    assert low[-1] > 2.0 and np.all(np.diff(low) < 0)
    assert good[-1] < 0.15
    assert abs(too_high[-1] - math.log(10)) < 0.05                # all ReLUs dead: the loss of a uniform guess


def test_mlp_losses_rejects_bad_shapes():
    with pytest.raises(ValueError, match="x must be"):
        mlp_losses(np.zeros((5, 3)), np.zeros(4, int), 0.1, 1)
    with pytest.raises(ValueError, match="batch_size"):
        mlp_losses(np.zeros((5, 3)), np.zeros(5, int), 0.1, 1, batch_size=0)


def test_figures_draw():
    from coursekit.optimlab import plot_paths_grid

    paths = {"SGD": run_optimizer(lambda p: optim.SGD(p, lr=0.3), VALLEY, 5)}
    fig = plot_paths_grid(VALLEY, paths, {"SGD": r"$\theta \leftarrow \theta - \eta g$"}, cols=2)
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "SGD"


def test_learning_rate_explorer_stores_its_first_figure_and_redraws():
    pytest.importorskip("ipywidgets")
    from coursekit.optimlab import learning_rate_explorer

    rng = np.random.default_rng(0)
    box = learning_rate_explorer(rng.random((40, 6)), rng.integers(0, 3, 40), epochs=3, batch_size=8)
    out = box.children[-1]
    assert len(out.outputs) == 1 and "image/png" in out.outputs[0]["data"]
    box.children[0].value = 1.0


def test_momentum_explorer_stores_its_first_figure_and_redraws():
    pytest.importorskip("ipywidgets")
    from coursekit.optimlab import momentum_explorer

    box = momentum_explorer(VALLEY, steps=10)
    assert "image/png" in box.children[-1].outputs[0]["data"]
    box.children[0].value = 3.0                                  # a diverging rate must still draw
    box.children[1].value = 0.5


def test_polyak_momentum_beats_the_default_on_the_valley():
    # heavy ball with the optimal constants for condition number 100 converges at rate sqrt(mu*) = 9/11 per step
    path = run_optimizer(lambda p: optim.SGD(p, lr=4 / 2.2 ** 2, momentum=(9 / 11) ** 2), VALLEY, 100)
    assert VALLEY.loss(path[-1]) < 1e-12
