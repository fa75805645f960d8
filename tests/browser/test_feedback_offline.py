"""A feedback page in a real browser with the network off: rendered by coursekit's FeedbackExporter (the settings
of course/nbgrader_config.py) it typesets its formulas from the MathJax copy beside it, sends no request outside
its folder, and its verdict lines wrap at 1200 px; nbgrader's stock template, rendered from the same notebook,
shows none of that (so these checks can fail). The formgrader's grading view and the feedback of a real grading
run are checked in test_formgrader.py; tests/test_offline_pages.py renders the same pages without a browser."""

from __future__ import annotations

import importlib.util

import pytest
from offline import INSPECT_JS, refuse_outside, serve

from conftest import REPO

pytest.importorskip("nbgrader")
pytest.importorskip("jupyter_server_mathjax", reason="the course extra: pip install -e '.[course]'")

_spec = importlib.util.spec_from_file_location("offline_pages", REPO / "tests" / "test_offline_pages.py")
pages = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pages)


def write_feedback(exporter, folder):
    from nbconvert.writers import FilesWriter

    resources = {"nbgrader": {"notebook": "conv_arithmetic", "score": 0, "max_score": 2, "late_penalty": 0},
                 "unique_key": "conv_arithmetic", "output_files_dir": "conv_arithmetic_files"}
    html, resources = exporter.from_notebook_node(pages.graded_notebook(), resources)
    FilesWriter(build_directory=str(folder)).write(html, resources, notebook_name="conv_arithmetic")
    return folder / "conv_arithmetic.html"


def look(browser, url, *allowed):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    record = refuse_outside(context, *allowed)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="load")
    seen = page.evaluate(INSPECT_JS)
    context.close()
    return seen, record, errors


def test_feedback_typesets_offline_and_wraps_its_verdicts(browser, tmp_path):
    from coursekit.course.feedback import FeedbackExporter

    config = pages.configured(template_name="feedback")
    page = write_feedback(FeedbackExporter(config=config), tmp_path / "feedback" / "ada" / "a1")
    with serve(page.parent) as url:
        seen, record, errors = look(browser, f"{url}/{page.name}", url + "/")
    assert record == {"outside": [], "failed": []} and not errors, (record, errors)
    assert seen["mathjax"] and seen["typeset"] == 2 and seen["errors"] == 0, seen   # both formulas of the prose
    assert seen["output"] == "HTML-CSS", seen
    assert not seen["wide"] and seen["page"] == [1200, 1200], seen

    # opened from a disk (a download, a zip): nothing outside the page's folder either
    folder = page.parent.as_uri() + "/"
    seen, record, errors = look(browser, page.as_uri(), folder)
    assert record["outside"] == [] and not errors, (record, errors)
    assert seen["typeset"] == 2 and not seen["wide"], seen


def test_nbgrader_stock_feedback_template_fails_these_checks(browser, tmp_path):
    """The control: nbgrader's own template from the same notebook asks a CDN for MathJax (so offline it typesets
    nothing) and lets the verdict run past its box."""
    from nbconvert.exporters import HTMLExporter
    from traitlets.config import Config

    from coursekit.course.config import _nbgrader_templates

    config = Config()
    nbgrader_templates, bootstrap_css = _nbgrader_templates()
    config.HTMLExporter.template_name = "feedback"
    config.HTMLExporter.extra_template_basedirs = [nbgrader_templates]
    config.HTMLExporter.extra_template_paths = [bootstrap_css]
    page = write_feedback(HTMLExporter(config=config), tmp_path / "stock")
    with serve(page.parent) as url:
        seen, record, _ = look(browser, f"{url}/{page.name}", url + "/")
    assert any("mathjax" in u.lower() for u in record["outside"]), record
    assert not seen["mathjax"], seen
    assert seen["wide"] and pages.LONG_VERDICT[:60] in seen["wide"][0], seen
