"""The student's side of an assignment in JupyterLab: read-only cells stay locked, the Validate button runs
`coursekit check` and shows which visible tests pass, and nbgrader's Assignment List loads without errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time

import pytest
from lab_session import open_notebook

from conftest import REPO

RELEASED = "assignments/a1_conv_arithmetic/conv_arithmetic.ipynb"


def cell_text(cell) -> str:
    return cell.locator(".jp-InputArea-editor .cm-content").inner_text()


def test_read_only_cells_refuse_edits(student_lab, page):
    nb = json.loads((REPO / RELEASED).read_text())
    locked = [i for i, c in enumerate(nb["cells"])
              if c["cell_type"] == "code" and c["metadata"].get("editable") is False]
    writable = [i for i, c in enumerate(nb["cells"])
                if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("solution")]
    assert locked and writable, "A1 has no locked test cell or no solution cell to compare with"
    panel = open_notebook(page, student_lab, RELEASED)
    cells = panel.locator(".jp-Cell")
    for index in (locked[0], writable[0]):
        cell = cells.nth(index)
        cell.scroll_into_view_if_needed()
        before = cell_text(cell)
        cell.locator(".cm-content").click()
        page.keyboard.press("End")
        page.keyboard.type("  # edited")
        time.sleep(0.5)
        page.steps(f"typed-into-cell{index}", cell)
        if index in locked:
            assert cell_text(cell) == before, f"the read-only cell {index} accepted an edit"
        else:  # the same typing does reach a solution cell: the check above can fail
            assert cell_text(cell) != before, f"typing into solution cell {index} changed nothing"
    page.keyboard.press("Escape")
    assert not page.console_errors, page.console_errors


def validate_in_browser(page, lab, path: str) -> str:
    open_notebook(page, lab, path)
    page.steps("opened")
    page.locator(".jp-NotebookPanel:visible .jp-Toolbar jp-button", has_text="Validate").first.click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(state="visible", timeout=300_000)  # the check runs the whole notebook under the time limits
    page.locator(".jp-Dialog-header", has_text="Validation Results").wait_for(timeout=10_000)
    page.steps("validated", dialog)
    text = dialog.inner_text()
    page.locator(".jp-Dialog button", has_text="Ok").first.click()
    return text


def coursekit_check(path) -> str:
    done = subprocess.run([sys.executable, "-m", "coursekit.cli", "check", str(path)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def validate_sample(student_lab, page, sample: str, folder: str):
    """Copy A1's `sample` submission into the lab's `folder` and press Validate: (its path, the dialog's text)."""
    work = student_lab.root / folder / "conv_arithmetic.ipynb"
    work.parent.mkdir(exist_ok=True)
    shutil.copyfile(REPO / f"course/submitted/{sample}/a1_conv_arithmetic/conv_arithmetic.ipynb", work)
    return work, validate_in_browser(page, student_lab, f"{folder}/conv_arithmetic.ipynb")


@pytest.mark.slow
def test_validate_shows_what_coursekit_check_says(student_lab, page):
    # a sample with one realistic mistake: conv_output_size off by one, the other parts right
    work, shown = validate_sample(student_lab, page, "off_by_one", "my_work")
    expected = coursekit_check(work)
    verdicts = [line.strip() for line in expected.splitlines() if re.match(r"\s+(pass|FAIL|TODO|ERROR)\s", line)]
    failing = [line for line in verdicts if not line.startswith("pass")]
    passing = [line.split()[1] for line in verdicts if line.startswith("pass")]
    assert failing and passing, f"the sample should pass some visible tests and fail others:\n{expected}"
    for line in failing:
        assert line in shown, f"Validate does not show coursekit check's verdict {line!r}:\n{shown}"
    summary = next(line for line in expected.splitlines() if line.startswith("visible tests:"))
    assert summary in shown, f"Validate does not show {summary!r}:\n{shown}"
    assert "passing: " + ", ".join(passing) in shown, f"Validate does not list the passing tests:\n{shown}"
    assert not page.console_errors, page.console_errors


@pytest.mark.slow
def test_validate_reports_success_for_the_reference_solution(student_lab, page):
    work, shown = validate_sample(student_lab, page, "reference", "reference_work")
    assert "passes all the tests" in shown, shown
    assert "FAIL" not in coursekit_check(work)
    assert not page.console_errors, page.console_errors


def test_assignment_list_loads_without_errors(student_lab, page):
    page.goto(student_lab.link("/lab?reset"))
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Assignment List").first.click()
    panel = page.locator("#nbgrader-assignment-list")
    panel.wait_for(state="visible")
    # the three lists (released, downloaded, submitted) finish loading
    page.wait_for_function("""() => Array.from(document.querySelectorAll('#nbgrader-assignment-list [id$="_loading"]'))
                                .every(e => e.offsetParent === null)""", timeout=30_000)
    time.sleep(1)
    page.steps("assignment-list", panel)
    text = panel.inner_text()
    assert "Error" not in text and "does not exist" not in text, text
    assert not page.console_errors, f"console errors in the Assignment List: {page.console_errors}"
    log = student_lab.server_log()
    assert "Traceback" not in log, f"the server logged a traceback:\n{log[-3000:]}"
