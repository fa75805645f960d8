"""The lectures' explorers build, redraw when a slider moves, and answer within a second."""

import time

import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

from coursekit.widgets import conv_arithmetic_explorer  # noqa: E402


def test_conv_arithmetic_explorer_redraws_quickly_and_explains_bad_settings(capsys):
    explorer = conv_arithmetic_explorer()
    sliders = {w.description: w for w in explorer.children[:-1]}
    assert set(sliders) == {"input n", "kernel k", "stride s", "padding p", "dilation d"}
    assert all(w.style.description_width == "initial" for w in sliders.values())  # labels are not cut
    start = time.perf_counter()
    sliders["stride s"].value = 2
    assert time.perf_counter() - start < 1.0
    assert "Figure" in capsys.readouterr().out                   # outside Jupyter the figure's repr is printed
    sliders["input n"].value = 2
    sliders["kernel k"].value = 7
    assert "not a valid layer" in capsys.readouterr().out
