"""The course's JupyterLab settings, as `make lab` starts it (jupyter_server_config.py, jupyter-config/): no news
pop-up or update check on first start, and nbgrader's Validate button on assignment notebooks only."""

from __future__ import annotations

import time

from lab_session import open_notebook

LECTURE = "lectures/01_convolution.ipynb"
ASSIGNMENT = "assignments/a1_conv_arithmetic/conv_arithmetic.ipynb"
VALIDATE = ".jp-NotebookPanel:visible .jp-Toolbar jp-button.validate-button"


def _validate_shown(page) -> bool:
    # the toolbar item is rendered by React a moment after the notebook: give it (and the hiding) time to settle
    time.sleep(2)
    buttons = page.locator(VALIDATE)
    return any(buttons.nth(i).is_visible() for i in range(buttons.count()))


def test_validate_is_shown_on_assignments_only(student_lab, page):
    open_notebook(page, student_lab, ASSIGNMENT)
    page.locator(VALIDATE).first.wait_for(state="visible", timeout=30_000)
    page.steps("assignment")
    assert _validate_shown(page), "no Validate button on a released assignment"

    open_notebook(page, student_lab, LECTURE)
    page.steps("lecture")
    assert page.locator(".jp-NotebookPanel:visible .jp-Toolbar").first.is_visible()
    assert not _validate_shown(page), "the Validate button is shown on a lecture"
    assert not page.console_errors, page.console_errors


def test_no_news_pop_up_and_no_update_check(student_lab, page):
    """The user settings are empty: what keeps the pop-up away is the course's settings directory."""
    assert not any((student_lab.root.parent / f"{student_lab.root.name}-lab-settings" / "user").rglob("*.*"))
    settings = student_lab.api("/lab/api/settings/@jupyterlab/apputils-extension:notification")
    defaults = {k: v.get("default") for k, v in settings["schema"]["properties"].items()}
    assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False, defaults
    open_notebook(page, student_lab, LECTURE)
    time.sleep(3)  # the consent toast appears within a second or two of start when fetchNews is unset
    page.steps("after-start")
    toasts = page.locator(".Toastify__toast").all_inner_texts()
    assert not any("news" in t.lower() for t in toasts), toasts
    assert not page.console_errors, page.console_errors
