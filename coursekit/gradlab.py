"""Deep stacks of fully connected layers for the backprop lecture (lectures/03_backprop.ipynb).

How the size of activations and gradients changes from layer to layer decides whether a deep network can train
at all. These helpers build a plain stack with a chosen initialisation and activation and measure, layer by layer,
the spread of the forward activations and the size of the weight gradients. NumPy only (coursekit.nn);
matplotlib and ipywidgets are imported by the function that draws.
"""

from __future__ import annotations

import math

import numpy as np

from . import nn
from ._extras import require
from .nn import init

__all__ = ["INITS", "ACTIVATIONS", "make_stack", "activation_stds", "gradient_norms", "init_scale_explorer",
           "live_figure"]

# name -> fills a (out, in) weight in place; "pytorch default" is what torch.nn.Linear / Conv2d do on creation
INITS = {
    "pytorch default": lambda w, rng: init.kaiming_uniform_(w, a=math.sqrt(5), rng=rng),
    "xavier": lambda w, rng: init.xavier_normal_(w, rng=rng),
    "he": lambda w, rng: init.kaiming_normal_(w, nonlinearity="relu", rng=rng),
}
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def make_stack(depth: int, width: int, activation: str = "relu", weight_init: str = "he", gain: float = 1.0,
               seed: int = 0) -> nn.Sequential:
    """depth x (Linear(width, width) -> activation), float64, biases zero.

    gain multiplies the initial weights after ``weight_init`` (gain 1 is the scheme itself).
    """
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be >= 1, got depth={depth}, width={width}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if weight_init not in INITS:
        raise ValueError(f"weight_init must be one of {sorted(INITS)}, got {weight_init!r}")
    rng = np.random.default_rng(seed)
    layers = []
    for _ in range(depth):
        linear = nn.Linear(width, width, dtype=np.float64)
        INITS[weight_init](linear.weight.data, rng)
        linear.weight.data *= gain
        linear.bias.data[...] = 0
        layers += [linear, ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)


def activation_stds(model: nn.Sequential, batch: int = 128, seed: int = 1) -> np.ndarray:
    """Standard deviation of every activation layer's output for a unit-variance Gaussian input batch.

    Returns: (depth,) one value per activation layer, first layer first.
    """
    width = model[0].in_features
    x = np.random.default_rng(seed).standard_normal((batch, width))
    stds = []
    for layer in model:
        x = layer(x)
        if not isinstance(layer, nn.Linear):
            stds.append(float(x.std()))
    return np.array(stds)


def gradient_norms(model: nn.Sequential, batch: int = 128, seed: int = 1) -> np.ndarray:
    """Frobenius norm of dL/dW for every Linear layer, for L = sum(out * r) / batch with a fixed random r.

    The upstream gradient r does not depend on the size of the output, so what changes from layer to layer is
    what backpropagation through the stack does to it, not the scale of the loss.
    Returns: (depth,) first layer first.
    """
    width = model[0].in_features
    gen = np.random.default_rng(seed)
    x = gen.standard_normal((batch, width))
    r = gen.standard_normal((batch, width))
    model.train()
    model.zero_grad()
    model(x)
    model.backward(r / batch)
    return np.array([float(np.linalg.norm(m.weight.grad)) for m in model if isinstance(m, nn.Linear)])


def live_figure(make_figure, **controls):
    """Controls above a figure that is redrawn whenever one of them moves.

    make_figure(**values) -> matplotlib Figure; controls: name -> ipywidgets control with a ``value``.
    The first figure goes into the Output widget's state instead of being printed, so a notebook stored with its
    outputs shows it, and the cell's own output (the widget's text) is the same under nbclient and nbval.
    """
    import base64

    require("coursekit.gradlab.live_figure", ("ipywidgets", "matplotlib"), extra="course")
    import ipywidgets as widgets
    from IPython.display import display

    from .viz import _figure_png

    out = widgets.Output()

    def values():
        return {name: control.value for name, control in controls.items()}

    first = make_figure(**values())
    # set as state rather than displayed: a PNG written here is saved with the notebook's widget state
    png = base64.b64encode(_figure_png(first)).decode("ascii")
    out.outputs = ({"output_type": "display_data", "metadata": {},
                    "data": {"image/png": png, "text/plain": repr(first)}},)

    def redraw(_change):
        fig = make_figure(**values())
        with out:
            out.clear_output(wait=True)
            display(fig)

    for control in controls.values():
        control.observe(redraw, names="value")
    return widgets.VBox([*controls.values(), out])


def init_scale_explorer(depth: int = 20, width: int = 128):
    """Sliders for the initial weight scale (a multiple of He's) and a choice of activation; redraws the spread
    of the activations and the size of the weight gradients layer by layer."""
    require("coursekit.gradlab.init_scale_explorer", ("ipywidgets", "matplotlib"), extra="course")
    import ipywidgets as widgets

    from .viz import _figure

    def draw(gain, activation):
        model = make_stack(depth, width, activation, "he", gain)
        stds, grads = activation_stds(model), gradient_norms(model)
        fig = _figure(8, 3.2)
        left, right = fig.subplots(1, 2)
        layers = np.arange(1, depth + 1)
        left.semilogy(layers, stds, marker="o")
        # fixed limits, so that moving a control shows growth or decay instead of a rescaled axis
        left.set(xlabel="layer", ylabel="std of activations", title="forward: activations", ylim=(1e-7, 1e4))
        right.semilogy(layers, grads, marker="o", color="tab:red")
        right.set(xlabel="layer", ylabel="norm of dL/dW", title="backward: weight gradients", ylim=(1e-12, 1e5))
        for ax in (left, right):
            ax.grid(alpha=0.3, which="both")
        fig.suptitle(f"{depth} layers of width {width}, {activation}, weights = {gain:.2f} x He")
        return fig

    return live_figure(
        draw,
        gain=widgets.FloatSlider(value=1.0, min=0.5, max=1.5, step=0.05, description="scale x He"),
        activation=widgets.Dropdown(options=list(ACTIVATIONS), value="relu", description="activation"),
    )
