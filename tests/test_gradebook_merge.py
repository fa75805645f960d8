"""Parallel grading merges per-worker gradebooks into the course's: the result must equal a serial run's, every
field of every row, and a rerun must replace what an earlier run wrote (issue 14's lost late penalties).

The gradebooks are compared through sqlite3 directly (tiny_course.database_rows), not through the code under
test: every column of every table, with surrogate ids replaced by the natural keys they stand for."""

from __future__ import annotations

import warnings

import pytest
import tiny_course as tiny
from tiny_course import build, database_rows, grade

from coursekit.course.gradebook import GradebookMismatch, dump_submission, load_submission
from coursekit.course.pipeline import Course


def submitted_notebook(rows, student):
    [row] = [r for r in rows["submitted_notebook"] if r["assignment_id"][2] == ("student", student)]
    return row


def instructor_edits(course: Course):
    """What an instructor does in formgrader between runs: a manual score, extra credit, a comment, a flag."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course.course / 'gradebook.db'}") as gb:
        grade = gb.find_grade("explain", tiny.ASSIGNMENT, tiny.ASSIGNMENT, "alice")
        grade.manual_score = 1.0
        grade.extra_credit = 0.5
        gb.find_comment("explain", tiny.ASSIGNMENT, tiny.ASSIGNMENT, "alice").manual_comment = "Well put."
        gb.find_submission_notebook(tiny.ASSIGNMENT, tiny.ASSIGNMENT, "dave").flagged = True
        gb.db.commit()


@pytest.mark.slow
def test_parallel_and_serial_grading_write_identical_gradebooks_and_reruns_replace(tmp_path):
    serial_course, parallel_course = build(tmp_path / "serial"), build(tmp_path / "parallel")
    serial, parallel = grade(serial_course, jobs=1), grade(parallel_course, jobs=2)
    assert parallel == serial
    # the fields that matter were really written, so the equality above is not between two empty gradebooks
    assert submitted_notebook(serial, "bob")["late_submission_penalty"] == 1.0
    assert submitted_notebook(serial, "carol")["late_submission_penalty"] is None
    assert [r["auto_comment"] for r in serial["comment"] if r["auto_comment"]] == ["No response."]  # dave's
    assert len(serial["grade"]) == 4 * 3
    # a written answer needs a human, unless it was left as released (then nbgrader scores it 0 itself)
    assert {r["notebook_id"][2][2][1]: r["needs_manual_grade"] for r in serial["grade"]
            if r["cell_id"][1] == "explain"} == {"alice": 1, "bob": 1, "carol": 1, "dave": 0}

    # second run: bob hands in a correct notebook on time, the instructor has graded by hand meanwhile
    for course in (serial_course, parallel_course):
        instructor_edits(course)
        tiny.submit(course.root, "bob", timestamp=tiny.DUE - tiny.HOUR)
    serial, parallel = grade(serial_course, jobs=1), grade(parallel_course, jobs=2)
    assert parallel == serial
    bob = submitted_notebook(parallel, "bob")
    assert bob["late_submission_penalty"] is None  # the penalty of the first run is gone
    bob_scores = {r["cell_id"][1]: r["auto_score"] for r in parallel["grade"]
                  if r["notebook_id"][2][2] == ("student", "bob")}
    assert bob_scores["test_two"] == 1.0 and bob_scores["test_negative"] == 2.0
    [explain] = [r for r in parallel["grade"] if r["cell_id"][1] == "explain"
                 and r["notebook_id"][2][2] == ("student", "alice")]
    assert (explain["manual_score"], explain["extra_credit"]) == (1.0, 0.5)
    assert submitted_notebook(parallel, "dave")["flagged"] == 1


def test_a_dump_that_does_not_fit_the_gradebook_changes_nothing(tmp_path):
    course = Course(tiny.make_course(tmp_path))
    course.release(tiny.ASSIGNMENT)
    url = f"sqlite:///{course.course / 'gradebook.db'}"
    from nbgrader.api import Gradebook

    with Gradebook(url) as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gb.update_or_create_student("erin")
        gb.add_submission(tiny.ASSIGNMENT, "erin")
    data = dump_submission(url, tiny.ASSIGNMENT, "erin")
    before = database_rows(course.course / "gradebook.db")

    load_submission(url, data)  # loading what is there already is a no-op
    assert database_rows(course.course / "gradebook.db") == before

    changed = dump_submission(url, tiny.ASSIGNMENT, "erin")
    changed["notebooks"][tiny.ASSIGNMENT]["grades"]["test_two"]["auto_score"] = 1.0
    changed["notebooks"][tiny.ASSIGNMENT]["grades"]["not_a_cell"] = changed["notebooks"][tiny.ASSIGNMENT][
        "grades"]["test_two"]
    with pytest.raises(GradebookMismatch, match="not_a_cell"):
        load_submission(url, changed)
    assert database_rows(course.course / "gradebook.db") == before
