"""`coursekit feedback` runs nbgrader's GenerateFeedback in this process and still hides hidden tests exactly as
HideTestCode does: the hidden region is cut from the source and redacted from every output, tracebacks cut to their
message."""

from __future__ import annotations

import hand_gradebook as hand
import nbformat
import tiny_course as tiny

from coursekit.cli import main as cli

SECRET = "assert double(12345) == 24690  # the hidden case"


def test_feedback_in_process_hides_hidden_tests(tmp_path, capsys):
    course = hand.released_course(tmp_path / "course")
    hand.grade(course, "alice", {"test_two": 1})
    path = hand.graded_notebook(course, "alice", {"test_negative": (0, "negative inputs are not doubled")})
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_negative":
            cell.source += f"\n### BEGIN HIDDEN TESTS\n{SECRET}\n### END HIDDEN TESTS\n"
            cell.outputs[0]["traceback"] = ["Traceback", f"----> 3 {SECRET}", "HiddenTestFailed: ..."]
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_two":   # a kernel that printed the test
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"I saw: {SECRET}\n")]
    nbformat.write(nb, path)

    assert cli(["feedback", tiny.ASSIGNMENT, "--student", "alice", "--root", str(course.root)]) == 0
    assert capsys.readouterr().err == ""                                   # no traitlets chatter
    page = (course.feedback_dir / "alice" / tiny.ASSIGNMENT / f"{tiny.ASSIGNMENT}.html").read_text()
    assert "negative inputs are not doubled" in page                       # the verdict is shown
    assert "hidden tests were run here" in page
    assert "12345" not in page and "the hidden case" not in page          # neither the code nor an echo of it
