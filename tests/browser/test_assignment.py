"""The student's side of an assignment in JupyterLab: read-only cells stay locked, the Validate button runs
`coursekit check` and shows its report (verdict first), and nbgrader's Assignment List loads without errors."""

from __future__ import annotations

import json
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
    """Press Validate on `path` and return the dialog's text (what is shown: hidden elements are not in it)."""
    open_notebook(page, lab, path)
    page.steps("opened")
    page.locator(".jp-NotebookPanel:visible .jp-Toolbar jp-button", has_text="Validate").first.click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(state="visible", timeout=300_000)  # the check runs the whole notebook under the time limits
    page.locator(".jp-Dialog-header", has_text="Validation Results").wait_for(timeout=10_000)
    page.steps("validated", dialog)
    text = dialog.locator(".jp-Dialog-body").inner_text()
    page.dialog_height = dialog.locator(".jp-Dialog-body").evaluate("e => e.scrollHeight")
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


def assert_dialog_is_the_report(shown: str, report: str, page) -> None:
    """The dialog says what `coursekit check` says, in its order, verdict first; nbgrader's cell heading and the
    starter code are not shown, and it fits a screen."""
    lines = [line.strip() for line in report.splitlines() if line.strip()]
    shown_lines = [line.strip() for line in shown.splitlines() if line.strip()]
    assert shown_lines[0] == lines[0], f"the dialog does not open with the verdict {lines[0]!r}:\n{shown}"
    assert shown_lines == lines, f"the dialog and coursekit check differ:\n{shown}\n---\n{report}"
    assert "The following cell failed" not in shown
    assert "NotImplementedError()" not in shown and "YOUR CODE HERE" not in shown   # no starter code
    assert page.dialog_height < 900, f"the dialog's body is {page.dialog_height} px tall"


@pytest.mark.slow
def test_validate_shows_what_coursekit_check_says(student_lab, page):
    # a sample with one realistic mistake: conv_output_size off by one, the other parts right
    work, shown = validate_sample(student_lab, page, "off_by_one", "my_work")
    expected = coursekit_check(work)
    assert expected.startswith("coursekit check conv_arithmetic.ipynb: Part 1: 2 of 4 points, 1 test failing; "
                               "Parts 2-5: pass. 18 of 20 points from visible tests."), expected
    assert "  FAIL  a1-conv-size (Part 1, 0 / 2): conv_output_size(32, 5) is 29, expected 28" in expected
    assert_dialog_is_the_report(shown, expected, page)
    assert not page.console_errors, page.console_errors


@pytest.mark.slow
def test_validate_half_done_in_the_release_itself(student_lab, page):
    """Part 1 written where the README tells students to work, assignments/: the notebook is its own release."""
    work = student_lab.root / RELEASED
    original = work.read_text()
    reference = json.loads((REPO / "course/submitted/reference/a1_conv_arithmetic/conv_arithmetic.ipynb").read_text())
    answer = next(c for c in reference["cells"]
                  if c["metadata"].get("nbgrader", {}).get("grade_id") == "a1-sizes-solution")
    nb = json.loads(original)
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "a1-sizes-solution":
            cell["source"] = answer["source"]
    try:
        work.write_text(json.dumps(nb, indent=1))
        shown = validate_in_browser(page, student_lab, RELEASED)
        expected = coursekit_check(work)
    finally:
        student_lab.close_sessions()
        work.write_text(original)
    lines = expected.splitlines()
    assert lines[0] == ("coursekit check conv_arithmetic.ipynb: Part 1: pass; Parts 2-5: not started. "
                        "4 of 20 points from visible tests."), expected
    todo = [line for line in lines if line.startswith("  TODO  ")]
    assert [line.split("—")[0].strip() for line in todo] == [f"TODO  Part {n}" for n in range(2, 6)], todo
    assert "this notebook is the release itself" in expected and "no test or read-only cell was changed" in expected
    assert "--release" not in expected
    assert_dialog_is_the_report(shown, expected, page)
    assert not page.console_errors, page.console_errors


@pytest.mark.slow
def test_validate_reports_success_for_the_reference_solution(student_lab, page):
    work, shown = validate_sample(student_lab, page, "reference", "reference_work")
    assert "passes all the tests" in shown, shown
    report = coursekit_check(work)
    assert "FAIL" not in report and "TODO" not in report
    assert report.splitlines()[0].endswith("Parts 1-5: pass. 20 of 20 points from visible tests."), report
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
