"""Small optimisation problems for the optimisation lecture (lectures/04_optimization.ipynb).

Two-parameter surfaces whose paths can be drawn, a runner that steps any ``coursekit.optim`` optimizer on one,
a learning-rate sweep that makes a comparison between optimizers fair (same step budget, each with its best
learning rate from the same grid), and a small ReLU classifier whose loss curves show what a learning rate
that is too high or too low looks like. NumPy only; matplotlib and ipywidgets are imported by the functions that
draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ._extras import require
from .nn.module import Parameter

__all__ = ["Surface", "VALLEY", "SADDLE", "run_optimizer", "tune_learning_rate", "mlp_losses", "momentum_explorer",
           "plot_paths_grid", "learning_rate_explorer"]


@dataclass(frozen=True)
class Surface:
    """A loss of two parameters: f(w1, w2) works on arrays (for contours), grad(w) on one point (2,)."""

    name: str
    f: Callable
    grad: Callable
    start: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    minima: tuple[tuple[float, float], ...] = ()

    def loss(self, w) -> float:
        return float(self.f(w[0], w[1]))


# A long narrow valley, curvature 0.04 along it and 4 across it (condition number 100), rotated by 30 degrees so
# that the valley does not line up with the coordinate axes (an axis-aligned valley flatters the per-coordinate
# methods: Adagrad, RMSprop and Adam would fix its scaling exactly).
_ANGLE = math.radians(30)
_ROT = np.array([[math.cos(_ANGLE), math.sin(_ANGLE)], [-math.sin(_ANGLE), math.cos(_ANGLE)]])
_CURV = np.array([0.04, 4.0])


def _valley_f(w1, w2):
    u = _ROT[0, 0] * w1 + _ROT[0, 1] * w2
    v = _ROT[1, 0] * w1 + _ROT[1, 1] * w2
    return 0.5 * (_CURV[0] * u ** 2 + _CURV[1] * v ** 2)


def _valley_grad(w):
    return _ROT.T @ (_CURV * (_ROT @ np.asarray(w, dtype=np.float64)))


VALLEY = Surface("rotated valley", _valley_f, _valley_grad, start=(-2.5, 0.5), xlim=(-2.8, 0.9), ylim=(-3.1, 1.0),
                 minima=((0.0, 0.0),))


# f = w1^2 + w2^4/4 - w2^2/2: a saddle at the origin (Hessian diag(2, -1)) between two minima at (0, +-1), where
# f = -1/4. A path that starts almost on the w1 axis slides into the saddle and lingers there.
def _saddle_f(w1, w2):
    return w1 ** 2 + w2 ** 4 / 4 - w2 ** 2 / 2


def _saddle_grad(w):
    w = np.asarray(w, dtype=np.float64)
    return np.array([2 * w[0], w[1] ** 3 - w[1]])


SADDLE = Surface("saddle", _saddle_f, _saddle_grad, start=(1.5, 1e-3), xlim=(-1.6, 1.6), ylim=(-1.4, 1.4),
                 minima=((0.0, -1.0), (0.0, 1.0)))


def run_optimizer(make_optimizer: Callable, surface: Surface, steps: int, start=None) -> np.ndarray:
    """Step an optimizer on a surface.

    make_optimizer: params -> optimizer (e.g. ``lambda p: optim.Adam(p, lr=0.1)``)
    Returns: (steps + 1, 2) array, the starting point and the point after every step.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    p = Parameter(np.array(surface.start if start is None else start, dtype=np.float64))
    if p.data.shape != (2,):
        raise ValueError(f"start must be a point (w1, w2), got shape {p.data.shape}")
    opt = make_optimizer([p])
    path = np.empty((steps + 1, 2))
    path[0] = p.data
    for t in range(steps):
        p.grad = surface.grad(p.data)
        opt.step()
        path[t + 1] = p.data
    return path


def tune_learning_rate(make_optimizer: Callable, surface: Surface, steps: int, lrs: Sequence[float],
                       last: int = 10) -> tuple[float, dict]:
    """Pick the learning rate from a grid that gives the lowest loss at the end of a fixed step budget.

    make_optimizer: (params, lr) -> optimizer
    last: the score is the mean loss over the last ``last`` steps, so a path that happens to cross the minimum
          on the final step is not rewarded for luck
    Returns: (best lr, {lr: score}); a path that leaves the finite numbers scores inf.
    """
    if not lrs:
        raise ValueError("lrs must name at least one learning rate")
    if not 1 <= last <= steps:
        raise ValueError(f"last must be between 1 and steps={steps}, got {last}")
    scores = {}
    with np.errstate(over="ignore", invalid="ignore"):
        for lr in lrs:
            path = run_optimizer(lambda p, lr=lr: make_optimizer(p, lr), surface, steps)
            losses = surface.f(path[-last:, 0], path[-last:, 1])
            score = float(np.mean(losses))
            scores[lr] = score if np.isfinite(score) else math.inf
    best = min(scores, key=scores.get)
    return best, scores


def mlp_losses(x, y, lr: float, epochs: int, batch_size: int = 32, hidden: int = 64, seed: int = 0,
               num_classes: int | None = None) -> np.ndarray:
    """Train a one-hidden-layer ReLU classifier by plain mini-batch SGD; return the training loss per epoch.

    The weights start from He initialisation with a fixed seed, so two learning rates differ only in the rate.
    x: (N, D) features; y: (N,) integer labels
    Returns: (epochs,) the mean training cross-entropy of each epoch's mini-batches (inf once it overflows).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be (N, D) and y (N,), got x {x.shape} and y {y.shape}")
    if batch_size < 1 or epochs < 1 or hidden < 1:
        raise ValueError(f"batch_size, epochs and hidden must be >= 1, got {batch_size}, {epochs} and {hidden}")
    k = int(num_classes if num_classes is not None else y.max() + 1)
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((x.shape[1], hidden)) * math.sqrt(2 / x.shape[1])
    b1 = np.zeros(hidden)
    w2 = rng.standard_normal((hidden, k)) * math.sqrt(1 / hidden)
    b2 = np.zeros(k)
    history = np.empty(epochs)
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(epochs):
            order = rng.permutation(len(y))
            losses = []
            for i in range(0, len(y), batch_size):
                idx = order[i:i + batch_size]
                rows = np.arange(len(idx))
                z = x[idx] @ w1 + b1                                          # (B, hidden)
                a = np.maximum(z, 0)
                logits = a @ w2 + b2                                          # (B, K)
                shifted = logits - logits.max(axis=1, keepdims=True)
                log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
                losses.append(-log_p[rows, y[idx]].mean())
                dlogits = np.exp(log_p)
                dlogits[rows, y[idx]] -= 1
                dlogits /= len(idx)
                dz = (dlogits @ w2.T) * (z > 0)
                w2 -= lr * a.T @ dlogits
                b2 -= lr * dlogits.sum(axis=0)
                w1 -= lr * x[idx].T @ dz
                b1 -= lr * dz.sum(axis=0)
            mean = float(np.mean(losses))
            history[epoch] = mean if np.isfinite(mean) else math.inf
    return history


def plot_paths_grid(surface: Surface, paths: dict, rules: dict | None = None, cols: int = 3):
    """One panel per optimizer: the surface's contours, its path, and (optionally) its update rule as a caption.

    paths: {label: (T, 2) array}; rules: {label: text drawn under the panel (matplotlib mathtext)}
    """
    from .viz import _figure

    rows = math.ceil(len(paths) / cols)
    fig = _figure(3.0 * cols, 3.5 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    xs, ys = np.meshgrid(np.linspace(*surface.xlim, 150), np.linspace(*surface.ylim, 150))
    zs = surface.f(xs, ys)
    # geometric levels show the floor of a valley as well as its walls; linear levels would crowd the walls
    levels = np.geomspace(1e-3, zs.max(), 15) if zs.min() >= 0 else 20
    for ax, (label, path) in zip(axes, paths.items()):
        ax.contour(xs, ys, zs, levels=levels, colors="0.6", linewidths=0.5)
        ax.plot(path[:, 0], path[:, 1], marker=".", markersize=2.5, linewidth=1, color="tab:red")
        ax.plot(*path[0], "ko", markersize=4, label="start")
        for point in surface.minima:
            ax.plot(*point, marker="*", color="tab:blue", markersize=9, linestyle="none")
        ax.set(xlim=surface.xlim, ylim=surface.ylim, title=label, xlabel="w1", ylabel="w2")
        ax.title.set_fontsize(10)
        if rules and label in rules:
            ax.text(0.5, -0.2, rules[label], transform=ax.transAxes, ha="center", va="top")
    for ax in axes[len(paths):]:
        ax.axis("off")
    return fig


def learning_rate_explorer(x, y, epochs: int = 30, batch_size: int = 32, lr: float = 10 ** -0.5,
                           compare=(0.001, 2.0)):
    """A log-scale learning-rate slider over ``mlp_losses`` on (x, y): redraws the training-loss curve,
    with the curves of the learning rates in ``compare`` drawn faintly for reference. The slider moves in steps of
    10^0.1, so ``lr`` should be one of them (the default, 0.316, is): the browser shows the nearest step."""
    require("coursekit.optimlab.learning_rate_explorer", ("ipywidgets", "matplotlib"), extra="course")
    import ipywidgets as widgets

    from .gradlab import live_figure
    from .viz import _figure

    references = {r: mlp_losses(x, y, r, epochs, batch_size) for r in compare}

    def draw(lr):
        losses = mlp_losses(x, y, lr, epochs, batch_size)
        fig = _figure(6, 3.5)
        ax = fig.subplots()
        epochs_axis = np.arange(1, epochs + 1)
        for r, curve in references.items():
            ax.plot(epochs_axis, np.minimum(curve, 10), color="grey", alpha=0.5, linestyle="--", label=f"lr {r:g}")
        ax.plot(epochs_axis, np.minimum(losses, 10), color="tab:blue", linewidth=2, label=f"lr {lr:.3g}")
        ax.set(xlabel="epoch", ylabel="training cross-entropy (clipped at 10)", ylim=(0, None),
               title=f"one-hidden-layer ReLU network, learning rate {lr:.3g}")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
        return fig

    return live_figure(draw, lr=widgets.FloatLogSlider(value=lr, base=10, min=-3, max=1, step=0.1,
                                                        description="learning rate"))


def momentum_explorer(surface: Surface = VALLEY, steps: int = 100, lr: float = 0.1, momentum: float = 0.9):
    """Sliders for SGD's learning rate and momentum on a surface: redraws the path and its loss curve."""
    require("coursekit.optimlab.momentum_explorer", ("ipywidgets", "matplotlib"), extra="course")
    import ipywidgets as widgets

    from .gradlab import live_figure
    from .optim import SGD
    from .viz import _figure

    xs, ys = np.meshgrid(np.linspace(*surface.xlim, 150), np.linspace(*surface.ylim, 150))
    zs = surface.f(xs, ys)
    levels = np.geomspace(1e-3, zs.max(), 15) if zs.min() >= 0 else 20

    def draw(lr, momentum):
        with np.errstate(over="ignore", invalid="ignore"):
            path = run_optimizer(lambda p: SGD(p, lr=lr, momentum=momentum), surface, steps)
            losses = surface.f(path[:, 0], path[:, 1])
        fig = _figure(9, 3.6)
        left, right = fig.subplots(1, 2)
        left.contour(xs, ys, zs, levels=levels, colors="0.6", linewidths=0.5)
        left.plot(path[:, 0], path[:, 1], marker=".", markersize=2.5, linewidth=1, color="tab:red")
        left.plot(*path[0], "ko", markersize=4)
        for point in surface.minima:
            left.plot(*point, marker="*", color="tab:blue", markersize=9, linestyle="none")
        left.set(xlim=surface.xlim, ylim=surface.ylim, xlabel="w1", ylabel="w2", title="path")
        right.semilogy(np.arange(steps + 1), np.clip(losses, 1e-20, 1e6))
        right.set(xlabel="step", ylabel="loss (clipped to [1e-20, 1e6])", ylim=(1e-20, 1e6),
                  title=f"loss after {steps} steps: {losses[-1]:.1e}")
        right.grid(alpha=0.3)
        fig.suptitle(f"SGD, learning rate {lr:.3g}, momentum {momentum:.2f}")
        return fig

    return live_figure(
        draw,
        # steps of 10^0.01 (2.3 %) come within 1.2 % of any rate, such as the 0.83 of the lecture's exercise 4.2
        lr=widgets.FloatLogSlider(value=lr, base=10, min=-3, max=0.5, step=0.01, description="learning rate"),
        momentum=widgets.FloatSlider(value=momentum, min=0.0, max=0.99, step=0.01, description="momentum"),
    )
