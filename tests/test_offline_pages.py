"""The pages the grader writes or serves load nothing from outside the machine: a feedback page carries MathJax in a
folder beside it, the formgrader's grading view takes it from the Jupyter server (jupyter-server-mathjax), and
both wrap their text outputs. The browser checks (formulas typeset, no request leaves, nothing overflows at
1200 px) are in tests/browser/test_offline_pages.py; these render the templates and read the HTML."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("nbgrader")
pytest.importorskip("jupyter_server_mathjax", reason="the course extra: pip install -e '.[course]'")

import nbformat  # noqa: E402
from nbconvert.exporters import HTMLExporter  # noqa: E402
from traitlets.config import Config  # noqa: E402

from coursekit.course import mathjax  # noqa: E402
from coursekit.course.config import page_settings  # noqa: E402
from coursekit.course.feedback import FeedbackExporter  # noqa: E402

LONG_VERDICT = ("conv_output_size(32, kernel_size=5, stride=1, padding=0, dilation=1) returned 29, expected 28; "
                * 6).strip()


def graded_notebook():
    """A small graded notebook as nbgrader hands it to feedback: maths in the prose, a failed test cell whose
    verdict is one long line, its scores set (GetGrades' job)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(r"The output size is $\lfloor (n + 2p - k)/s \rfloor + 1$ and"
                                      "\n\n$$\\hat x = \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}}$$"),
        nbformat.v4.new_code_cell("assert conv_output_size(32, 5) == 28", outputs=[nbformat.v4.new_output(
            "error", ename="AssertionError", evalue=LONG_VERDICT, traceback=[f"AssertionError: {LONG_VERDICT}"])]),
    ]
    nb.cells[1].metadata["nbgrader"] = {"grade": True, "grade_id": "a1-conv-size", "points": 2, "score": 0,
                                        "solution": False, "locked": True, "schema_version": 3}
    nb.metadata["kernelspec"] = {"name": "coursekit", "display_name": "Python 3 (coursekit)", "language": "python"}
    return nb


def configured(**nbgrader_defaults) -> Config:
    """The course's exporter settings over what nbgrader sets itself (GenerateFeedback's HTMLExporter defaults,
    the formgrader's template), as in nbgrader's processes."""
    config = Config()
    for name, value in nbgrader_defaults.items():
        config.HTMLExporter[name] = value
    for name, value in page_settings().items():
        section, trait = name.split(".")
        config[section][trait] = value
    return config


def script_sources(html: str) -> list[str]:
    return re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", html)


def test_feedback_carries_mathjax_beside_it_and_links_nothing_outside():
    # what GenerateFeedback sets on HTMLExporter itself: FeedbackExporter's own settings must win
    exporter = FeedbackExporter(config=configured(template_name="feedback", extra_template_paths=["/nowhere"]))
    resources = {"nbgrader": {"notebook": "conv_arithmetic", "score": 0, "max_score": 2, "late_penalty": 0},
                 "unique_key": "conv_arithmetic", "output_files_dir": "conv_arithmetic_files"}
    html, resources = exporter.from_notebook_node(graded_notebook(), resources)

    assert script_sources(html) == [mathjax.FEEDBACK_URL]
    assert "cdnjs" not in html and not re.search(r"(src|href)=\"(https?:)?//", html)
    assert 'webFont: "STIX-Web"' in html                       # the only web font the package ships
    assert "Score: 0.0 / 2.0" in html and LONG_VERDICT in html   # still nbgrader's feedback page
    assert re.search(r"div\.output_area pre[^{]*\{[^}]*white-space: pre-wrap", html)
    written = resources["outputs"]
    for needed in ("MathJax.js", "config/TeX-AMS-MML_HTMLorMML-full.js", "extensions/Safe.js",
                   "jax/output/HTML-CSS/fonts/STIX-Web/fontdata.js",
                   "fonts/HTML-CSS/STIX-Web/woff/STIXMathJax_Main-Regular.woff"):
        assert f"mathjax/{needed}" in written, needed
    assert written["mathjax/MathJax.js"] == (mathjax.static_dir() / "MathJax.js").read_bytes()
    assert sum(map(len, written.values())) < 4e6                  # not the whole 12 MB package per page


def test_feedback_with_a_configured_mathjax_elsewhere_writes_no_copy():
    config = configured()
    config.FeedbackExporter.mathjax_url = "/static/mathjax/MathJax.js"
    exporter = FeedbackExporter(config=config)
    resources = {"nbgrader": {"notebook": "nb", "score": 0, "max_score": 2, "late_penalty": 0}}
    html, resources = exporter.from_notebook_node(graded_notebook(), resources)
    assert script_sources(html) == ["/static/mathjax/MathJax.js"]
    assert not any(name.startswith("mathjax/") for name in resources.get("outputs", {}))


@pytest.mark.parametrize("base_url", ["", "/user/ada"])
def test_the_grading_view_takes_mathjax_from_the_jupyter_server(base_url):
    # the formgrader's exporter: nbgrader's HTMLExporter with the formgrader's template unless the course says
    # otherwise (FormgradeExtension.build_extra_config, overridden by the config file)
    from nbgrader.server_extensions.formgrader import handlers

    exporter = HTMLExporter(config=configured(template_name="formgrade",
                                              extra_template_basedirs=[handlers.template_path]))
    resources = {"assignment_id": "a1", "notebook_id": "conv_arithmetic", "submission_id": "s1", "index": 0,
                 "total": 2, "base_url": base_url, "student": "ada", "last_name": None, "first_name": None,
                 "notebook_path": "course/autograded/ada/a1/conv_arithmetic.ipynb"}
    html, _ = exporter.from_notebook_node(graded_notebook(), resources)
    sources = script_sources(html)
    assert f"{base_url}/static/jupyter_server_mathjax/MathJax.js?config={mathjax.CONFIG}" in sources
    assert not [s for s in sources if s.startswith(("http:", "https:", "//"))], sources
    assert "cdnjs" not in html
    assert 'class="btn btn-success full-credit"' in html        # still the grading view, with its score buttons
    assert re.search(r"div\.output_area pre[^{]*\{[^}]*white-space: pre-wrap", html)


def test_the_copy_holds_every_file_the_font_data_names():
    """HTML-CSS loads each STIX-Web block's font data and woff file on demand: every one named in fontdata.js is
    in the copy (a missing one is a formula drawn in the wrong font, or a request a browser test would see)."""
    written = mathjax.files()
    fontdata = written["mathjax/jax/output/HTML-CSS/fonts/STIX-Web/fontdata.js"].decode()
    families = set(re.findall(r"STIXMathJax_([A-Za-z0-9]+)-?(?:Bold|Italic|BoldItalic|Regular)?\"", fontdata))
    assert len(families) > 10, families
    woff = {n.rsplit("/", 1)[1].split("-")[0].removeprefix("STIXMathJax_") for n in written if n.endswith(".woff")}
    assert families <= woff, families - woff
