"""Interactive explorers for the lectures (ipywidgets). Imported only by notebooks that use them."""

from __future__ import annotations

from ._extras import require

require(__name__, ("ipywidgets", "matplotlib"), extra="course")

__all__ = ["conv_arithmetic_explorer", "filter_explorer"]


def conv_arithmetic_explorer(n=7):
    """Sliders for kernel size, stride, padding and dilation; redraws which inputs each output sees.

    The figure is coursekit.viz.plot_conv_geometry, whose two-line title fits the figure at every setting.
    """
    import ipywidgets as widgets
    from IPython.display import display

    from .viz import plot_conv_geometry

    def draw(n, kernel_size, stride, padding, dilation):
        try:
            display(plot_conv_geometry(n, kernel_size, stride, padding, dilation))
        except ValueError as exc:  # a kernel that does not fit: say why instead of drawing
            print(f"not a valid layer: {exc}")

    style = {"description_width": "initial"}  # the default width cuts labels such as "dilation d"
    return widgets.interactive(
        draw,
        n=widgets.IntSlider(value=n, min=1, max=16, description="input n", style=style),
        kernel_size=widgets.IntSlider(value=3, min=1, max=7, description="kernel k", style=style),
        stride=widgets.IntSlider(value=1, min=1, max=4, description="stride s", style=style),
        padding=widgets.IntSlider(value=0, min=0, max=4, description="padding p", style=style),
        dilation=widgets.IntSlider(value=1, min=1, max=4, description="dilation d", style=style),
    )


def filter_explorer(image, filters: dict):
    """A dropdown of named 3x3 kernels applied to one gray image (H, W) with coursekit's convolution."""
    import ipywidgets as widgets
    import numpy as np
    from IPython.display import display

    from .nn.functional import conv2d_forward
    from .viz import show_images

    image = np.asarray(image, dtype=np.float64)

    def draw(name):
        kernel = np.asarray(filters[name], dtype=np.float64)
        out, _ = conv2d_forward(image[None, None], kernel[None, None], padding=kernel.shape[-1] // 2)
        display(show_images(np.stack([image, out[0, 0]]), ["input", name], cols=2, size=2.5))

    return widgets.interactive(draw, name=widgets.Dropdown(options=list(filters), description="kernel"))
