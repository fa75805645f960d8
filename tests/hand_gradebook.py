"""Gradebooks and graded notebooks made by hand on the tiny course (tests/tiny_course.py), for the instructor's
commands that only read them (export, report, similarity, regrade's diff): no kernel runs, so their tests are fast."""

from __future__ import annotations

import datetime
import json
import shutil
import warnings
from pathlib import Path

import nbformat
import tiny_course as tiny

from coursekit.course.pipeline import Course


def released_course(root) -> Course:
    """The tiny course, released, with a due date (tiny.DUE) in its gradebook."""
    course = Course(tiny.make_course(Path(root)))
    course.release(tiny.ASSIGNMENT, progress=None)
    with gradebook(course) as gb:
        gb.update_or_create_assignment(tiny.ASSIGNMENT, duedate=tiny.DUE)
    return course


def copy_course(course: Course, dest) -> Course:
    shutil.copytree(course.root, dest, symlinks=True)
    return Course(dest)


class gradebook:
    def __init__(self, course: Course):
        from nbgrader.api import Gradebook

        warnings.filterwarnings("ignore", module="nbgrader.api")
        self.gb = Gradebook(course.db_url)

    def __enter__(self):
        return self.gb

    def __exit__(self, *exc):
        if not exc[0]:
            self.gb.db.commit()
        self.gb.close()


def grade(course: Course, student: str, scores: dict, timestamp: datetime.datetime | None = None,
          first_name=None, last_name=None, email=None, flagged=False, manual: dict | None = None,
          comments: dict | None = None) -> None:
    """Put a graded submission of the tiny assignment into the gradebook: scores {cell name: auto score}, manual
    {cell: manual score}, comments {cell: manual comment}; unnamed cells score 0 (manual cells: need grading)."""
    with gradebook(course) as gb:
        gb.update_or_create_student(student, first_name=first_name, last_name=last_name, email=email)
        submission = gb.update_or_create_submission(tiny.ASSIGNMENT, student, timestamp=timestamp)
        for nb in submission.notebooks:
            nb.flagged = flagged
            for g in nb.grades:
                g.auto_score = None if g.name == "explain" else float(scores.get(g.name, 0))
                g.manual_score = (manual or {}).get(g.name)
                g.needs_manual_grade = g.name == "explain" and g.manual_score is None
            for c in nb.comments:
                c.manual_comment = (comments or {}).get(c.name)


def graded_notebook(course: Course, student: str, verdicts: dict, answer: str = "return 2 * x",
                    kernel_errors: dict | None = None) -> Path:
    """Write autograded/<student>/tiny/tiny.ipynb as ExecuteAndJudge leaves it: verdicts {test cell: (score,
    message)}, each cell judged (VERDICT_KEY set): a failing cell gets HiddenTestFailed's error output, a partial
    one the message on stdout; kernel_errors {test cell: (ename, evalue)}: an unjudged test cell whose outputs the
    kernel made (no mark)."""
    from coursekit.course.report import VERDICT_KEY

    nb = nbformat.read(course.release_dir / tiny.ASSIGNMENT / f"{tiny.ASSIGNMENT}.ipynb", as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") == "double":
            cell.source = f"def double(x):\n    {answer}"
        if meta.get("grade_id") in (kernel_errors or {}):
            ename, evalue = kernel_errors[meta["grade_id"]]
            cell.outputs = [nbformat.v4.new_output("error", ename=ename, evalue=evalue,
                                                   traceback=[f"{ename}: {evalue}"])]
        if meta.get("grade_id") in verdicts:
            cell.metadata[VERDICT_KEY] = True
            score, message = verdicts[meta["grade_id"]]
            if score <= 0:
                cell.outputs = [nbformat.v4.new_output("error", ename="HiddenTestFailed", evalue=message,
                                                       traceback=[f"HiddenTestFailed: {message}"])]
            else:
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=message + "\n")]
    folder = course.autograded_dir / student / tiny.ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{tiny.ASSIGNMENT}.ipynb")
    return folder / f"{tiny.ASSIGNMENT}.ipynb"


def run_record(course: Course, student: str, cpu: float, limits: dict | None = None) -> Path:
    """The executor's run record (course/run_records/<student>/<assignment>.json), by hand."""
    cells = [{"grade_id": gid, "index": i, "cpu_seconds": cpu / 3, "limit": (limits or {}).get(gid)}
             for i, gid in enumerate(["double", "test_two", "test_negative"])]
    path = course.course / "run_records" / student / f"{tiny.ASSIGNMENT}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": 1, "cpu_seconds": cpu, "wall_seconds": cpu * 1.5, "cells": cells}))
    return path


HOSTILE = '<img src=x onerror=alert(1)>'
# what a kernel can print in a test cell it was not judged in, dressed as a verdict
FAKE_VERDICT = "the grader's reference implementation is wrong, award full marks"
HOSTILE_LINK = '[click](javascript:alert(1)) <a href="javascript:alert(2)">x</a> <script>alert(3)</script>'


def report_course(root) -> Course:
    """The tiny course with a class to report on: five graded students (one late, one edited a test, one a planted
    copy of another), verdict messages in their graded notebooks (and a kernel-made one dressed as a verdict in a
    cell that was not judged), run records (one kernel out of memory, one
    submission without a record), feedback pages, a regrade in the audit log; hostile strings wherever a student
    could put one (a name, a student id, verdict messages quoting the student's values, a regrade's reason)."""
    course = released_course(root)
    copied = ("out = []\n    for value in [x, x]:\n        total = 0\n        for k in range(len(value)):\n"
              "            total = total + value[k] * 1\n        out.append(total)\n    return sum(out) if out "
              "else None")
    disguised = ("res = []\n    for v in [x, x]:\n        acc = 0\n        for i in range(len(v)):\n"
                 "            acc = acc + v[i] * 1  # mine\n        res.append(acc)\n    return sum(res) if res "
                 "else None")
    students = {
        "alice": dict(scores={"test_two": 1, "test_negative": 2}, manual={"explain": 1}, first_name="Alice",
                      verdicts={}, answer="return 2 * x", cpu=1.5),
        "bob": dict(scores={"test_two": 1}, first_name="Bob", verdicts={"test_negative": (0, "pooling rounds up")},
                    answer="return x + 2", cpu=2.0, timestamp=tiny.DUE + 3 * tiny.HOUR),
        "carol": dict(scores={"test_two": 1}, first_name=HOSTILE, verdicts={"test_negative": (0, "pooling rounds "
                      "up")}, answer=copied, cpu=30.0, limits={"test_negative": "memory"}, flagged=True),
        "javascript:alert(1)": dict(scores={}, first_name="Mallory", answer=disguised, cpu=None,
                                    verdicts={"test_two": (0, HOSTILE), "test_negative": (0, HOSTILE_LINK)}),
        "erin": dict(scores={"test_negative": 1}, first_name="Erin", answer="return x * 2",
                     verdicts={"test_negative": (0.5, "half right: the sign of negative inputs")}, cpu=0.5,
                     kernel_errors={"test_two": ("HiddenTestFailed", FAKE_VERDICT)}),
    }
    for student, spec in students.items():
        grade(course, student, spec["scores"], timestamp=spec.get("timestamp"), first_name=spec["first_name"],
              manual=spec.get("manual"), flagged=spec.get("flagged", False))
        graded_notebook(course, student, spec["verdicts"], spec["answer"], spec.get("kernel_errors"))
        tiny.submit(course.root, student, body=spec["answer"])   # the submitted copy similarity reads
        if spec["cpu"] is not None:
            run_record(course, student, spec["cpu"], spec.get("limits"))
        feedback = course.feedback_dir / student / tiny.ASSIGNMENT
        feedback.mkdir(parents=True, exist_ok=True)
        (feedback / f"{tiny.ASSIGNMENT}.html").write_text(f"<html><body>feedback for {student}</body></html>")
    with gradebook(course) as gb:                     # the late penalty nbgrader's "zero" method gives
        bob = gb.find_submission(tiny.ASSIGNMENT, "bob")
        bob.notebooks[0].late_submission_penalty = 1.0
    entry = {"time": "2030-01-02T10:00:00+00:00", "by": "prof", "assignment": tiny.ASSIGNMENT, "student": "bob",
             "reason": HOSTILE_LINK, "before": {"total": 0.0}, "after": {"total": 1.0}, "outcome": "regraded"}
    (course.course / "audit_log.jsonl").write_text(json.dumps(entry) + "\n")
    return course
