"""The report `coursekit check` prints and the Validate button shows (coursekit.course.check_report), from executed
notebooks made here (no kernel): the verdict line first, per part; unstarted parts as one TODO line each; failures
with their verdict and first wrong value, never a cell's starter code; an assert without a message named by its
line. Also: where the check finds the release (the notebook may be the release itself), and the Validate answer
built from the report."""

from __future__ import annotations

import copy
import html
from pathlib import Path

import pytest

pytest.importorskip("nbgrader")

import nbformat  # noqa: E402

from coursekit.course.check_report import build_report, failed_line, failure_message  # noqa: E402
from coursekit.course.feedback import explain_bare_error  # noqa: E402
from coursekit.course.lab_validate import REPORT_CLASS, nbgrader_result, parse_report  # noqa: E402
from coursekit.course.presubmit import compare_with_history, find_release  # noqa: E402
from coursekit.course.release_history import source_digest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
A1 = ROOT / "assignments" / "a1_conv_arithmetic" / "conv_arithmetic.ipynb"

# IPython's traceback of `assert answer() == 42` failing on line 2 of a cell, as the grader's executor records it
BARE_ASSERT = {
    "output_type": "error", "ename": "AssertionError", "evalue": "",
    "traceback": ["\x1b[31m-----------------------------------------------------------------\x1b[39m",
                  "\x1b[31mAssertionError\x1b[39m                            Traceback (most recent call last)",
                  "\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[2]\x1b[39m\x1b[32m, line 2\x1b[39m\n"
                  "\x1b[32m      1\x1b[39m \x1b[38;5;28;01massert\x1b[39;00m answer() > \x1b[32m0\x1b[39m\n"
                  "\x1b[32m----> \x1b[39m\x1b[32m2\x1b[39m \x1b[38;5;28;01massert\x1b[39;00m answer() == "
                  "\x1b[32m42\x1b[39m\n",
                  "\x1b[31mAssertionError\x1b[39m: "]}


def error(ename, evalue=""):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def meta(cell):
    return cell.metadata.get("nbgrader", {})


def a1_executed(done_parts: set[int], wrong: dict | None = None):
    """A1's release as the check executes it: the solution cells of done_parts written (they no longer raise),
    their tests passing unless `wrong` ({grade_id: error output}) says otherwise; every other part untouched,
    its tests failing with the NameError/NotImplementedError the starter code causes."""
    nb = nbformat.read(A1, as_version=4)
    part = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("## Part "):
            part = int(cell.source.split()[2])
        m = meta(cell)
        if m.get("solution") and part in done_parts:
            cell.source = "def answer():\n    return 1\n"
            cell.outputs = []
        elif m.get("solution"):
            cell.outputs = [error("NotImplementedError")]
        elif m.get("grade"):
            failed = (wrong or {}).get(m["grade_id"]) if part in done_parts else error("NotImplementedError")
            cell.outputs = [failed] if failed else []
    return nb


def test_part_one_done_reads_as_the_issue_asks():
    report = build_report("conv_arithmetic.ipynb", a1_executed({1}))
    assert report.summary() == "Part 1: pass; Parts 2-5: not started. 4 of 20 points from visible tests."
    details = report.details()
    # one TODO line per part not started, named by its heading, then the passing tests
    assert details == [
        "TODO  Part 2 — Parameters, memory and cost (6 points): not started (a1-params-solution still raises "
        "NotImplementedError)",
        "TODO  Part 3 — VGG16 (2 points): not started (a1-vgg-solution still raises NotImplementedError)",
        "TODO  Part 4 — Receptive fields (3 points): not started (a1-rf-solution still raises NotImplementedError)",
        "TODO  Part 5 — A convolution of your own (6 points): not started (a1-conv-solution still raises "
        "NotImplementedError)",
        "passing: a1-conv-size, a1-pool-transpose-size"]
    text = report.text()
    assert text.splitlines()[0] == f"coursekit check conv_arithmetic.ipynb: {report.summary()}"
    assert "NotImplementedError()" not in text and "YOUR CODE HERE" not in text   # never the starter code


def test_a_failure_gives_its_verdict_and_first_wrong_value_never_the_test_code():
    wrong = {"a1-conv-size": error("AssertionError", "conv_output_size(32, 5) is 29, expected 28")}
    report = build_report("conv_arithmetic.ipynb", a1_executed({1, 2, 3, 4, 5}, wrong))
    assert report.summary() == ("Part 1: 2 of 4 points, 1 test failing; Parts 2-5: pass. "
                                "18 of 20 points from visible tests.")
    assert report.details()[0] == "FAIL  a1-conv-size (Part 1, 0 / 2): conv_output_size(32, 5) is 29, expected 28"
    sources = [c.source for c in nbformat.read(A1, as_version=4).cells if meta(c).get("grade")]
    text = report.text()
    assert not [line for s in sources for line in s.splitlines() if len(line) > 20 and line.strip() in text]


def test_parts_in_progress_and_everything_done():
    nb = a1_executed({1, 2, 3, 4, 5})
    for cell in nb.cells:
        if meta(cell).get("grade_id") == "a1-conv-solution":
            cell.source, cell.outputs = "raise NotImplementedError()", [error("NotImplementedError")]
        if meta(cell).get("grade_id") in ("a1-conv-naive", "a1-conv-matmul"):
            cell.outputs = [error("NotImplementedError")]
        if meta(cell).get("grade_id") == "a1-vgg16":
            cell.outputs = [error("NameError", "name 'vgg16_summary' is not defined")]
    report = build_report("x.ipynb", nb)
    assert report.summary() == ("Parts 1-2: pass; Part 3: 0 of 2 points, 1 test failing; Part 4: pass; "
                                "Part 5: not started. 12 of 20 points from visible tests.")
    assert report.details()[:2] == [
        "FAIL  a1-vgg16 (Part 3, 0 / 2): NameError: name 'vgg16_summary' is not defined",
        "TODO  Part 5 — A convolution of your own (6 points): not started (a1-conv-solution still raises "
        "NotImplementedError)"]
    # a part with one answer written and one still to write is in progress
    started = plain_notebook(
        ("markdown", "## Exercise 1", None, []),
        ("code", "a = 1", {"grade_id": "a", "solution": True}, []),
        ("code", "raise NotImplementedError()", {"grade_id": "b", "solution": True}, [error("NotImplementedError")]),
        ("code", "assert a == 1", {"grade_id": "ta", "grade": True, "points": 1}, []),
        ("code", "assert b == 1", {"grade_id": "tb", "grade": True, "points": 2}, [error("NameError", "b")]))
    started_report = build_report("s.ipynb", started)
    assert started_report.summary() == "Exercise 1: in progress, 1 of 3 points. 1 of 3 points from visible tests."
    assert started_report.details() == ["TODO  b (Exercise 1): still raises NotImplementedError",
                                        "FAIL  tb (Exercise 1, 0 / 2): NameError: b", "passing: ta"]
    done = build_report("x.ipynb", a1_executed({1, 2, 3, 4, 5}))
    assert done.summary() == "Parts 1-5: pass. 20 of 20 points from visible tests." and done.all_pass


def plain_notebook(*cells):
    nb = nbformat.v4.new_notebook()
    for kind, source, nbgrader, outputs in cells:
        cell = (nbformat.v4.new_markdown_cell(source) if kind == "markdown"
                else nbformat.v4.new_code_cell(source, outputs=outputs))
        if nbgrader:
            cell.metadata["nbgrader"] = {"schema_version": 3, "grade": False, "solution": False, "locked": False,
                                         **nbgrader}
        nb.cells.append(cell)
    return nb


def test_a_foreign_notebooks_plain_assert_is_named_by_its_line():
    nb = plain_notebook(
        ("markdown", "# Problem set 1\n```\n# not a heading\n```\n## Question 1", None, []),
        ("code", "def answer():\n    return 41", {"grade_id": "answer", "solution": True}, []),
        ("code", "assert answer() > 0\nassert answer() == 42", {"grade_id": "check", "grade": True, "points": 1},
         [nbformat.from_dict(BARE_ASSERT)]),
        ("markdown", "## Question 2", None, []),
        ("code", "x = 2", {"grade_id": "x", "solution": True}, []),
        ("code", "assert x == 2", {"grade_id": "check_x", "grade": True, "points": 1}, []))
    report = build_report("problem1.ipynb", nb)
    assert report.summary() == ("Question 1: 0 of 1 point, 1 test failing; Question 2: pass. "
                                "1 of 2 points from visible tests.")
    assert report.details()[0] == "FAIL  check (Question 1, 0 / 1): line 2 failed: assert answer() == 42"
    assert "AssertionError:" not in report.text()


def test_failure_messages():
    assert failed_line(BARE_ASSERT["traceback"]) == (2, "assert answer() == 42")
    assert failed_line(["AssertionError: "]) is None
    numpy = ("\nNot equal to tolerance rtol=1e-07, atol=0\n\nMismatched elements: 1 / 3 (33.3%)\nMismatch at index:\n"
             " [2]: 4 (ACTUAL), 5 (DESIRED)\nMax absolute difference among violations: 1\n ACTUAL: array([0, 2, 4])")
    assert failure_message(error("AssertionError", numpy)) == (
        "Not equal to tolerance rtol=1e-07, atol=0; Mismatched elements: 1 / 3 (33.3%); "
        "Mismatch at index: [2]: 4 (ACTUAL), 5 (DESIRED) ...")
    assert failure_message(error("ValueError", "x has shape (2, 3)")) == "ValueError: x has shape (2, 3)"
    assert failure_message(error("CellTimeoutError", "")) == "timed out (the cell used up its CPU-second limit)"
    assert failure_message(error("KeyError")) == "KeyError (with no message)"


def test_notebooks_without_parts_and_names_of_runs():
    nb = plain_notebook(
        ("code", "a = 1", {"grade_id": "a", "solution": True}, []),
        ("code", "assert a == 1", {"grade_id": "ta", "grade": True, "points": 2}, []))
    assert build_report("n.ipynb", nb).summary() == "the notebook: pass. 2 of 2 points from visible tests."
    nb = plain_notebook(
        ("markdown", "## Warm-up: sizes", None, []),
        ("code", "raise NotImplementedError()", {"grade_id": "a", "solution": True}, [error("NotImplementedError")]),
        ("markdown", "## Strides", None, []),
        ("code", "raise NotImplementedError()", {"grade_id": "b", "solution": True}, [error("NotImplementedError")]))
    assert build_report("n.ipynb", nb).summary() == "Warm-up, Strides: not started. 0 of 0 points from visible tests."


# --------------------------------------------------------------------------- the release, found by the check
def test_a_notebook_in_assignments_is_its_own_release_and_a_copy_finds_it(tmp_path):
    release = tmp_path / "course" / "assignments" / "ps1" / "problem1.ipynb"
    release.parent.mkdir(parents=True)
    nb = plain_notebook(("code", "x = 1", {"grade_id": "x", "solution": True}, []),
                        ("code", "assert x == 1", {"grade_id": "check_x", "grade": True, "points": 1}, []),
                        ("code", "LIMIT = 3", {"grade_id": "setup", "locked": True}, []))
    nbformat.write(nb, release)
    assert find_release(release) == release
    copy_ = tmp_path / "course" / "ps1" / "problem1.ipynb"              # fetched beside the course: by name
    copy_.parent.mkdir()
    nbformat.write(nb, copy_)
    assert find_release(copy_) == release
    renamed = tmp_path / "course" / "work" / "problem1-Copy1.ipynb"      # renamed: by its graded cells
    renamed.parent.mkdir()
    nbformat.write(nb, renamed)
    assert find_release(renamed) == release
    stranger = tmp_path / "course" / "work" / "other.ipynb"
    nbformat.write(plain_notebook(("code", "y = 1", {"grade_id": "y", "solution": True}, [])), stranger)
    assert find_release(stranger) is None


def test_a_copy_outside_any_course_is_matched_with_coursekits_own_by_its_cells(tmp_path):
    mine = tmp_path / "Downloads" / "my conv homework.ipynb"           # renamed, outside the clone
    mine.parent.mkdir()
    mine.write_text(A1.read_text())
    assert find_release(mine) == A1
    namesake = tmp_path / "elsewhere" / "conv_arithmetic.ipynb"        # another course's notebook, same name
    namesake.parent.mkdir()
    nbformat.write(plain_notebook(("code", "y = 1", {"grade_id": "y", "solution": True}, [])), namesake)
    assert find_release(namesake) is None


def test_the_release_itself_is_compared_with_every_released_version():
    nb = plain_notebook(("code", "assert x == 1", {"grade_id": "check_x", "grade": True, "points": 1}, []),
                        ("code", "LIMIT = 3", {"grade_id": "setup", "locked": True}, []))
    history = {"check_x": [source_digest("assert x == 0"), source_digest("assert x == 1")],
               "setup": [source_digest("LIMIT = 3")], "check_y": [source_digest("assert y")]}
    assert compare_with_history(nb, history) == [
        "cell check_y is missing: the grader restores it and runs it as released"]
    edited = copy.deepcopy(nb)
    edited.cells[0].source = "assert True"
    edited.cells[1].source = "LIMIT = 30"
    assert compare_with_history(edited, history)[:2] == [
        "test cell check_x was changed (its source is not the released one): the grader restores it, runs it as "
        "released and reports the edit",
        "read-only cell setup was changed (its source is not the released one): the grader restores the original"]


# --------------------------------------------------------------------------- the Validate button's answer
def test_validate_shows_the_report_verdict_first():
    report = build_report("conv_arithmetic.ipynb", a1_executed({1}, {"a1-conv-size": error(
        "AssertionError", "conv_output_size(32, 5) is 29, expected <28>")}))
    report.release_note = "this notebook is the release itself (assignments/a1/conv_arithmetic.ipynb)"
    report.changes = ["test cell a1-vgg16 was changed (its source is not the released one): the grader restores it"]
    output = "note: something first\n" + report.text()
    parsed = parse_report(output)
    assert parsed["problems"][0].startswith("FAIL  a1-conv-size") and len(parsed["problems"]) == 5
    assert parsed["changed"] == report.changes
    result = nbgrader_result(output, 0)
    [entry] = result["value"]["failed"]
    assert result["success"] is True
    assert entry["source"] == report.text().splitlines()[0]           # the verdict, where nbgrader puts a cell
    assert entry["error"].startswith(f'<span class="{REPORT_CLASS}"></span>')
    assert html.unescape(entry["error"].split("</span>", 1)[1]) == "\n".join(report.text().splitlines()[1:])
    assert "expected &lt;28&gt;" in entry["error"]                     # inserted as HTML: escaped


def test_validate_success_and_a_check_that_did_not_finish():
    done = build_report("x.ipynb", a1_executed({1, 2, 3, 4, 5}))
    done.release_note = "compared with the release x: no test or read-only cell was changed"
    assert nbgrader_result(done.text(), 0) == {"success": True, "value": {}}
    for output, status in (("Traceback (most recent call last): ...", 1), ("coursekit check: no notebook at x", 2)):
        result = nbgrader_result(output, status)
        assert result["success"] is False and output in result["value"]


# --------------------------------------------------------------------------- feedback of a plain assert
def test_feedback_says_which_assert_failed_or_that_a_hidden_one_did():
    visible = "assert answer() > 0\nassert answer() == 42"
    assert explain_bare_error(visible, BARE_ASSERT) == "this line failed: assert answer() == 42"
    hidden = "assert answer() > 0\n### BEGIN HIDDEN TESTS\nassert answer() == 42\n### END HIDDEN TESTS"
    hidden_error = copy.deepcopy(BARE_ASSERT)
    hidden_error["traceback"][2] = hidden_error["traceback"][2].replace("\x1b[32m2\x1b[39m", "\x1b[32m3\x1b[39m")
    message = explain_bare_error(hidden, hidden_error)
    assert message == "a hidden test failed (an assert without a message; its code is not shown)"
    assert "42" not in message
