"""The course website's sources (scripts/build_site.py, scripts/site_widgets.py), without a browser: widgets drawn
from their stored state, the course map counted from the folders, solutions never published.
tests/browser/test_website.py builds the site and checks every page in Chromium."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


site_widgets = _load("site_widgets")
build_site = _load("build_site")
VIEW = site_widgets.WIDGET_VIEW


def _widget_notebook(state: dict, model_id: str) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "cells": [
        {"cell_type": "code", "source": "explorer()", "metadata": {}, "execution_count": 1, "outputs": [
            {"output_type": "execute_result", "execution_count": 1, "metadata": {},
             "data": {VIEW: {"model_id": model_id, "version_major": 2, "version_minor": 0},
                      "text/plain": "VBox(...)"}}]}],
        "metadata": {"widgets": {site_widgets.WIDGET_STATE: {"state": state, "version_major": 2,
                                                             "version_minor": 0}}}}


def _model(name, **state):
    return {"model_name": name, "model_module": "@jupyter-widgets/controls", "state": state}


def test_a_widget_shows_its_stored_controls_and_figure():
    state = {
        "box": _model("VBoxModel", children=["IPY_MODEL_lr", "IPY_MODEL_kind", "IPY_MODEL_out"]),
        "lr": _model("FloatLogSliderModel", description="learning rate", value=0.1, min=-3.0, max=1.0, base=10.0,
                     step=0.1, readout_format=".3g"),
        "kind": _model("DropdownModel", description="activation", _options_labels=["relu", "tanh"], index=1),
        "out": _model("OutputModel", outputs=[{"output_type": "display_data", "metadata": {},
                                                "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}}]),
    }
    nb = _widget_notebook(state, "box")
    assert site_widgets.staticize(nb) == 1
    assert "widgets" not in nb["metadata"]                              # no widget manager is asked for
    html = nb["cells"][0]["outputs"][0]["data"]["text/html"]
    assert VIEW not in nb["cells"][0]["outputs"][0]["data"]
    assert 'value="-1"' in html and ">0.1<" in html                     # a log slider: its position is log10(0.1)
    assert "learning rate" in html and "<option selected>tanh</option>" in html
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in html           # the figure the lecture stored
    assert "disabled" in html and "Interactive in JupyterLab" in html


def test_a_widget_without_stored_state_becomes_a_note():
    nb = _widget_notebook({}, "gone")
    site_widgets.staticize(nb)
    html = nb["cells"][0]["outputs"][0]["data"]["text/html"]
    assert "its state was not stored" in html and "<img" not in html


def test_every_stored_lecture_widget_keeps_its_figure():
    for path in sorted((ROOT / "lectures").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        views = [o for c in nb["cells"] for o in c.get("outputs", []) if VIEW in o.get("data", {})]
        stored = nb.get("metadata", {}).get("widgets", {}).get(site_widgets.WIDGET_STATE, {}).get("state", {})
        assert site_widgets.staticize(nb) == len(views)
        for output in views:  # replaced in place
            assert VIEW not in output["data"], path.name
            if stored:  # a stored explorer shows at least one control and its figure
                assert "<input" in output["data"]["text/html"] or "<select" in output["data"]["text/html"]
                assert "<img" in output["data"]["text/html"], path.name


def test_source_notebooks_are_refused_and_the_release_accepted():
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        with pytest.raises(build_site.ReleaseError, match="not a student release"):
            build_site.check_release(json.loads(path.read_text()), path)
    for path in sorted((ROOT / "assignments").glob("*/*.ipynb")):
        build_site.check_release(json.loads(path.read_text()), path)


def _notebook(*markdown):
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"cell_type": "markdown", "metadata": {}, "source": m} for m in markdown]}


def test_the_site_is_staged_from_the_folders_alone(tmp_path, monkeypatch):
    """A repository with two made-up lectures, one assignment and no solutions/: the map lists what is there."""
    pytest.importorskip("jupyter_server_mathjax", reason="the site extra: pip install -e '.[site]'")
    repo = tmp_path / "repo"
    (repo / "lectures").mkdir(parents=True)
    (repo / "lectures" / "01_a.ipynb").write_text(json.dumps(_notebook("# Lecture A\n\n## 1. First\n\n## 2. Second")))
    (repo / "lectures" / "02_b.ipynb").write_text(json.dumps(_notebook("No title here", "```\n## not a heading\n```")))
    graded = _notebook("# Assignment X", "## Part 1")
    graded["cells"].append({"cell_type": "code", "metadata": {"nbgrader": {"grade": True, "points": 3,
                            "grade_id": "t1"}}, "source": "assert True", "outputs": [], "execution_count": None})
    (repo / "assignments" / "x").mkdir(parents=True)
    (repo / "assignments" / "x" / "x.ipynb").write_text(json.dumps(graded))
    monkeypatch.setattr(build_site, "ROOT", repo)
    staged = build_site.stage(tmp_path / "stage")
    assert [p["title"] for p in staged["lectures"]] == ["Lecture A", "02_b"]
    assert staged["lectures"][0]["sections"] == ["1. First", "2. Second"]
    assert staged["lectures"][1]["sections"] == []                      # a fenced "##" is not a section
    index = (tmp_path / "stage" / "index.md").read_text()
    assert "[Lecture A](lectures/01_a.ipynb) | 1. First; 2. Second |" in index
    assert "[Assignment X](assignments/x/x.ipynb) | 1 cells, 3 points |" in index
    assert (tmp_path / "stage" / "_mathjax" / "mathjax" / "MathJax.js").is_file()
    assert not (tmp_path / "stage" / "solutions").exists()
    assert (tmp_path / "stage" / "conf.py").is_file()


def test_api_reference_lists_importable_modules():
    import importlib

    for _, modules in build_site.API_MODULES:
        for name in modules:
            if name.split(".")[1] in ("models", "data", "train"):
                pytest.importorskip("torch")
            importlib.import_module(name)


def test_site_output_is_ignored_by_git():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "_build/" in ignored and build_site.OUT.relative_to(ROOT).parts[0] == "_build"
