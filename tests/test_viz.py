"""Figures build and save outside Jupyter (no pyplot, no display)."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from coursekit import viz  # noqa: E402

FIGURES = [
    lambda: viz.show_images(np.random.default_rng(0).random((5, 1, 8, 8)), titles=list("abcde"), cols=3),
    lambda: viz.show_filters(np.random.default_rng(1).standard_normal((6, 1, 3, 3))),
    lambda: viz.show_feature_maps(np.random.default_rng(2).random((4, 6, 6))),
    lambda: viz.plot_curves({"train": [3, 2, 1], "val": [3.5, 2.5, 2]}, logy=True),
    lambda: viz.plot_trajectories(lambda a, b: a ** 2 + b ** 2, {"sgd": np.array([[1, 1], [0.5, 0.5], [0, 0]])}),
    lambda: viz.plot_schedules({"const": lambda t: 0.1}, 5),
    lambda: viz.plot_conv_geometry(7, 3, stride=2, padding=1, dilation=1),
    lambda: viz.plot_confusion_matrix(np.eye(3, dtype=int) * 5),
    lambda: viz.plot_bars({"a": 1, "b": 10}, logy=True),
    lambda: viz.show_segmentation(np.random.default_rng(3).random((3, 1, 8, 8)), np.eye(8)[None].repeat(3, 0),
                                  np.ones((3, 8, 8))),
]


@pytest.mark.parametrize("make", FIGURES)
def test_figure_renders_to_png(make, tmp_path):
    fig = make()
    path = tmp_path / "figure.png"
    fig.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_geometry_plot_rejects_an_impossible_layer():
    with pytest.raises(ValueError, match="larger than the padded input"):
        viz.plot_conv_geometry(2, 5)


@pytest.mark.parametrize("n, k, s, p, d", [(1, 1, 1, 0, 1), (7, 3, 1, 0, 1), (16, 7, 4, 4, 3), (4, 3, 2, 1, 1)])
def test_geometry_title_fits_inside_the_figure(n, k, s, p, d):
    # issue 15: the explorer's title was clipped on both sides at small n
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = viz.plot_conv_geometry(n, k, s, p, d)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    title = fig.axes[0].title.get_window_extent(renderer)
    assert title.x0 >= 0 and title.x1 <= fig.bbox.width and title.y1 <= fig.bbox.height


def visible_text_sizes(fig):
    """{text: size in points} of every non-empty text drawn in the figure: titles, labels, ticks, legends."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    FigureCanvasAgg(fig).draw()  # tick labels exist only once the figure is drawn
    return {t.get_text(): t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()}


@pytest.mark.parametrize("make", FIGURES)
def test_every_text_is_legible_at_the_displayed_size(make):
    # issue 15: bar labels drawn at 7 pt were 7 px in JupyterLab; a PNG at DPI is shown at DPI / 96 of its size
    sizes = visible_text_sizes(make())
    assert sizes
    small = {text: size for text, size in sizes.items() if size * viz.DPI / 96 < 9}
    assert not small, f"text displayed below 9 pt: {small}"
    assert min(sizes.values()) >= viz.MIN_FONT_SIZE


def test_pyplot_figures_get_the_course_style_too():
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcParams["xtick.labelsize"] = "small"
        viz.use_course_style()
        assert matplotlib.rcParams["xtick.labelsize"] == viz.MIN_FONT_SIZE
        assert matplotlib.rcParams["figure.dpi"] == viz.DPI


@pytest.mark.parametrize("make", [
    lambda: viz.show_images(np.zeros((16, 8, 8))),                                     # eight columns by default
    lambda: viz.show_segmentation(np.zeros((6, 8, 8)), np.zeros((6, 8, 8)), np.zeros((6, 8, 8))),
    lambda: viz.plot_conv_geometry(16, 7, stride=1, padding=4),                       # the explorer's widest setting
])
def test_default_figures_fit_a_notebook_column_unscaled(make):
    # JupyterLab shrinks a PNG wider than the output area (about 900 px beside the file browser), labels included
    assert make().get_figwidth() * viz.DPI <= 900
