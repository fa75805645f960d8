"""`coursekit regrade`: one submission graded again, the per-cell difference shown, manual grades and formgrader
comments kept, an audit entry written; per-student extensions (course/extensions.json) honoured by nbgrader's late
penalty."""

from __future__ import annotations

import datetime
import json
import re

import hand_gradebook as hand
import pytest
import tiny_course as tiny

from coursekit.cli import main as cli
from coursekit.course.extensions import extension_for, load_extensions
from coursekit.course.regrade import read_audit_log

DUE = tiny.DUE


def test_extension_values():
    assert extension_for("+2 days", DUE) == datetime.timedelta(days=2)
    assert extension_for("+1 day 6 hours", None) == datetime.timedelta(hours=30)
    assert extension_for("+90 minutes", DUE) == datetime.timedelta(minutes=90)
    assert extension_for("2030-01-03 12:00:00 UTC", DUE) == datetime.timedelta(days=2)
    assert extension_for("2030-01-01 13:00:00 +0100", DUE) is None          # 12:00 UTC: the due date itself
    assert extension_for(None, DUE) is None and extension_for("+0 days", DUE) is None
    with pytest.raises(ValueError, match="before the assignment's due date"):
        extension_for("2029-12-31 00:00:00 UTC", DUE)
    with pytest.raises(ValueError, match="needs the assignment's own due date"):
        extension_for("2030-01-03 12:00:00 UTC", None)
    with pytest.raises(ValueError, match="'\\+2 fortnights'"):
        extension_for("+2 fortnights", DUE)


def test_extensions_file_is_checked(tmp_path):
    assert load_extensions(tmp_path / "missing.json") == {}
    (tmp_path / "x.json").write_text('{"a1": {"bob": 2}}')
    with pytest.raises(ValueError, match="a1/bob: 2 is neither"):
        load_extensions(tmp_path / "x.json")


@pytest.mark.slow
def test_regrade_honours_an_extension_keeps_manual_grades_and_logs_it(tmp_path, capsys):
    course = hand.released_course(tmp_path / "course")
    tiny.submit(course.root, "bob", timestamp=DUE + tiny.HOUR)   # right, but an hour late: the course scores it 0
    [result] = course.autograde([("bob", tiny.ASSIGNMENT)], progress=None)
    assert result.ok, result.detail
    with hand.gradebook(course) as gb:                           # what a grader does in the formgrader
        submission = gb.find_submission(tiny.ASSIGNMENT, "bob")
        assert submission.late_submission_penalty == submission.score == 3
        notebook = submission.notebooks[0]
        next(g for g in notebook.grades if g.name == "explain").manual_score = 1
        next(c for c in notebook.comments if c.name == "double").manual_comment = "Nicely done."
    (course.course / "extensions.json").write_text(json.dumps({tiny.ASSIGNMENT: {"bob": "+2 hours"}}))

    assert cli(["regrade", tiny.ASSIGNMENT, "--student", "bob", "--reason", "medical extension",
                "--by", "prof", "--root", str(course.root)]) == 0
    out = capsys.readouterr().out
    assert "regraded bob/tiny: 1 -> 4 of 4" in out and "manual score kept" in out   # 1: the manual point only
    assert re.search(r"late penalty +3 -> 0", out)

    with hand.gradebook(course) as gb:
        submission = gb.find_submission(tiny.ASSIGNMENT, "bob")
        assert submission.extension == datetime.timedelta(hours=2) and submission.late_submission_penalty == 0
        notebook = submission.notebooks[0]
        assert next(g for g in notebook.grades if g.name == "explain").manual_score == 1
        assert next(c for c in notebook.comments if c.name == "double").manual_comment == "Nicely done."
    [entry] = read_audit_log(course.course)
    assert entry["by"] == "prof" and entry["reason"] == "medical extension" and entry["outcome"] == "regraded"
    assert entry["before"]["total"] == 1 and entry["before"]["late_penalty"] == 3 and entry["after"]["total"] == 4
    assert entry["after"]["cells"]["explain"] == {"score": 1.0, "manual": True, "auto_score": None}
    assert datetime.datetime.fromisoformat(entry["time"]).tzinfo is not None

    assert cli(["regrade", tiny.ASSIGNMENT, "--student", "bob", "--reason", " ", "--root", str(course.root)]) == 1
    assert cli(["regrade", tiny.ASSIGNMENT, "--student", "nobody", "--reason", "x", "--root", str(course.root)]) == 1
    assert len(read_audit_log(course.course)) == 1
