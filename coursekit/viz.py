"""Figures for the lectures, built on matplotlib's object API so they also work in scripts and tests.

Each function returns a ``matplotlib.figure.Figure``; in Jupyter the figure displays when it is the last value
of a cell, elsewhere call ``fig.savefig(path)``. matplotlib is imported only here, on first use;
without it ``import coursekit.viz`` fails at once with the command that installs the ``course`` extra.
"""

from __future__ import annotations

import math

import numpy as np

from ._extras import require

# one line naming the extra at import, not a bare ModuleNotFoundError at the first figure
require(__name__, "matplotlib", extra="course")

__all__ = ["COURSE_STYLE", "DPI", "use_course_style", "show_images", "show_filters", "show_feature_maps",
           "plot_curves", "plot_trajectories", "plot_schedules", "plot_conv_geometry", "plot_confusion_matrix",
           "plot_bars", "show_segmentation"]

# Resolution of the PNGs a notebook shows. The browser draws one image pixel per CSS pixel (96 per inch), so text
# of s points in the figure is displayed at s * DPI / 96 points.
DPI = 90
# The one place the course's text sizes are set, for coursekit's figures and for pyplot figures in the lectures
# (use_course_style). The smallest, 10 pt, is displayed at 9.4 pt (12.5 px) at DPI; matplotlib's "small" labels
# and the 7-8 pt sizes used before read as 7-9 px in JupyterLab.
COURSE_STYLE = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.title_fontsize": 10,
    "figure.titlesize": 12,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
}
MIN_FONT_SIZE = 10  # the smallest text size (points) any course figure uses; tests/test_viz.py holds every figure to it


def use_course_style() -> None:
    """Apply COURSE_STYLE to matplotlib's defaults. Every coursekit figure calls it; a lecture that draws with pyplot
    calls it once after importing pyplot (the inline backend sets its own defaults when pyplot loads)."""
    import matplotlib

    matplotlib.rcParams.update(COURSE_STYLE)


def _figure(width, height):
    from matplotlib.figure import Figure

    use_course_style()  # text sizes are read from the defaults when each label is created
    _register_notebook_display()
    return Figure(figsize=(width, height), layout="constrained")


def _figure_png(fig) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _register_notebook_display() -> None:
    """Let IPython show a bare Figure as a PNG when it is a cell's value (pyplot is never imported here)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    from matplotlib.figure import Figure

    shell.display_formatter.formatters["image/png"].for_type(Figure, _figure_png)


def _grid(n, cols):
    cols = min(cols, n)
    return math.ceil(n / cols), cols


def show_images(images, titles=None, cols=8, cmap="gray", size=1.1, vmin=None, vmax=None, suptitle=None):
    """images: (N, H, W) or (N, 1, H, W) array -> a grid of small pictures, each `size` inches wide.

    Eight of the default size make a row of 790 pixels at DPI: a wider PNG is shrunk to fit the notebook's column,
    and its labels with it."""
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[:, 0]
    rows, cols = _grid(len(images), cols)
    fig = _figure(size * cols, size * rows + (0.3 if suptitle else 0))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap=cmap, vmin=vmin, vmax=vmax)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=MIN_FONT_SIZE)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def show_filters(weight, cols=8, suptitle="filters"):
    """weight: (F, C, KH, KW) conv weights; shows channel 0 of every filter, each scaled symmetrically around 0."""
    w = np.asarray(weight)[:, 0]
    bound = float(np.abs(w).max()) or 1.0
    return show_images(w, [f"f{i}" for i in range(len(w))], cols, cmap="RdBu_r", vmin=-bound, vmax=bound,
                       suptitle=suptitle)


def show_feature_maps(maps, cols=8, suptitle="feature maps"):
    """maps: (C, H, W) activations of one image -> one panel per channel."""
    maps = np.asarray(maps)
    return show_images(maps, [f"ch {i}" for i in range(len(maps))], cols, cmap="viridis", suptitle=suptitle)


def plot_curves(curves: dict, xlabel="epoch", ylabel="", title="", logy=False):
    """curves: {label: sequence of values} -> one line each (training curves, learning rates ...)."""
    fig = _figure(6, 3.5)
    ax = fig.subplots()
    for label, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=label, marker="o" if len(values) <= 30 else None)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def plot_trajectories(f, paths: dict, xlim=(-2, 2), ylim=(-2, 2), title="optimizer paths"):
    """Contours of f(x, y) with each optimizer's path on top. paths: {label: (T, 2) array}."""
    fig = _figure(6, 5)
    ax = fig.subplots()
    xs, ys = np.meshgrid(np.linspace(*xlim, 200), np.linspace(*ylim, 200))
    ax.contour(xs, ys, f(xs, ys), levels=30, cmap="Greys", linewidths=0.6)
    for label, path in paths.items():
        path = np.asarray(path)
        ax.plot(path[:, 0], path[:, 1], marker=".", markersize=3, label=label)
    ax.set(xlim=xlim, ylim=ylim, title=title, xlabel="w1", ylabel="w2")
    ax.legend()
    return fig


def plot_schedules(schedules: dict, steps: int):
    """schedules: {label: function t -> lr} -> learning rate against step."""
    t = np.arange(steps)
    return plot_curves({k: [fn(i) for i in t] for k, fn in schedules.items()}, xlabel="step",
                       ylabel="learning rate", title="learning-rate schedules")


def plot_conv_geometry(n, kernel_size, stride=1, padding=0, dilation=1):
    """A 1-D picture of where each output's kernel taps land on the padded input."""
    from .arithmetic import conv_output_size

    out = conv_output_size(n, kernel_size, stride, padding, dilation)
    # wide enough for the two-line title at any slider setting (a one-line title was clipped on both sides)
    fig = _figure(max(5.5, 0.35 * (n + 2 * padding) + 1.6), 0.35 * out + 1.5)
    ax = fig.subplots()
    for i in range(-padding, n + padding):
        ax.add_patch(_square(i, -1, "white" if 0 <= i < n else "#dddddd"))
    for o in range(out):
        taps = [o * stride - padding + d * dilation for d in range(kernel_size)]
        for t in taps:
            ax.add_patch(_square(t, o, "#4c72b0"))
        ax.text(-padding - 1.2, o + 0.5, f"out {o}", va="center", ha="right", fontsize=MIN_FONT_SIZE)
    ax.text(-padding - 1.2, -0.5, "input", va="center", ha="right", fontsize=MIN_FONT_SIZE)
    ax.set(xlim=(-padding - 4, n + padding + 0.5), ylim=(out + 0.2, -1.2))
    ax.set_title(f"n={n}, k={kernel_size}, s={stride}, p={padding}, d={dilation} -> {out} outputs\n"
                 "blue: kernel taps, grey: padding", fontsize=MIN_FONT_SIZE + 1)
    ax.axis("off")
    return fig


def _square(x, y, color):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 0.9, 0.9, facecolor=color, edgecolor="black", linewidth=0.5)


def plot_confusion_matrix(matrix, class_names=None, title="confusion matrix"):
    matrix = np.asarray(matrix)
    fig = _figure(4.5, 4)
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    names = class_names or [str(i) for i in range(len(matrix))]
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xticklabels=names, yticklabels=names,
           xlabel="predicted", ylabel="true", title=title)
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=MIN_FONT_SIZE,
                color="white" if v > matrix.max() / 2 else "black")
    return fig


def plot_bars(values: dict, ylabel="", title="", logy=False):
    fig = _figure(6.5, 3.6)
    ax = fig.subplots()
    ax.bar(list(values), list(values.values()), color="#4c72b0")
    ax.set(ylabel=ylabel, title=title)
    ax.tick_params(axis="x", rotation=60)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
        label.set_rotation_mode("anchor")
    if logy:
        ax.set_yscale("log")
    return fig


def show_segmentation(images, masks, predictions=None, size=1.5, titles=None):
    """One column per sample: the image, the true mask, and (optionally) the predicted mask with its errors
    coloured (red: missed, blue: false alarm). Arrays (N, H, W) or (N, 1, H, W), masks binary."""
    images, masks = (np.asarray(a)[:, 0] if np.asarray(a).ndim == 4 else np.asarray(a) for a in (images, masks))
    rows = 2 if predictions is None else 3
    fig = _figure(size * len(images), size * rows)
    axes = np.array(fig.subplots(rows, len(images))).reshape(rows, len(images))
    for j in range(len(images)):
        axes[0, j].imshow(images[j], cmap="gray")
        axes[1, j].imshow(masks[j], cmap="gray", vmin=0, vmax=1)
        if titles is not None:
            axes[0, j].set_title(str(titles[j]), fontsize=MIN_FONT_SIZE)
        if predictions is not None:
            pred = np.asarray(predictions)
            pred = (pred[:, 0] if pred.ndim == 4 else pred)[j].astype(bool)
            truth = masks[j].astype(bool)
            overlay = np.stack([truth & pred] * 3, axis=-1).astype(float)
            overlay[truth & ~pred] = (1.0, 0.2, 0.2)   # missed
            overlay[~truth & pred] = (0.3, 0.5, 1.0)   # false alarm
            axes[2, j].imshow(overlay)
    for ax, label in zip(axes[:, 0], ["image", "true mask", "prediction"]):
        ax.set_ylabel(label)
    for ax in axes.ravel():
        ax.set_xticks([]), ax.set_yticks([])
    return fig
