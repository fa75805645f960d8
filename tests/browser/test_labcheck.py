"""coursekit.course.lab_validate turns `coursekit check`'s report into what the Validate button shows (no browser)."""

from coursekit.course.lab_validate import nbgrader_result

REPORT = """coursekit check work.ipynb: ran every cell in a fresh kernel with the grader's time limits
  FAIL  a1-conv-size (0 / 2): AssertionError: conv_output_size(32, 5) is 29, expected <28>
  pass  a1-conv-params (1 point)
  TODO  a1-params-solution: still raises NotImplementedError
{changes}visible tests: 1 / 3 points. Hidden tests run when your work is graded.
"""
CHANGED = """changed or deleted cells (compared with assignments/a1/work.ipynb):
  test cell a1-vgg16 was changed (source): the grader restores it, runs it as released and reports the edit
"""
NOTEBOOK = {"cells": [{"metadata": {"nbgrader": {"grade_id": "a1-conv-size"}}, "source": ["assert conv(32, 5) == 28"]}]}


def test_failures_are_listed_with_the_passing_tests():
    result = nbgrader_result(REPORT.format(changes=CHANGED), 0, NOTEBOOK)
    failed = result["value"]["failed"]
    assert result["success"] is True
    assert [f["source"] for f in failed] == ["assert conv(32, 5) == 28", "a1-params-solution", "test cell a1-vgg16"]
    # nbgrader's dialog inserts `error` as HTML: the report's text arrives escaped
    assert "expected &lt;28&gt;" in failed[0]["error"] and "<28>" not in failed[0]["error"]
    assert "visible tests: 1 / 3 points" in failed[0]["error"] and "passing: a1-conv-params" in failed[0]["error"]
    assert "runs it as released" in failed[2]["error"]


def test_all_passing_is_nbgraders_success():
    report = "  pass  a1-conv-params (1 point)\nno test or read-only cell was changed (compared with x)\n" \
             "visible tests: 1 / 1 points. Hidden tests run when your work is graded.\n"
    assert nbgrader_result(report, 0, NOTEBOOK) == {"success": True, "value": {}}


def test_a_check_that_did_not_finish_is_an_error():
    for output, status in (("Traceback (most recent call last): ...", 1), ("coursekit check: no notebook at x", 2)):
        result = nbgrader_result(output, status, None)
        assert result["success"] is False and output in result["value"]
