"""Moving one graded submission from one nbgrader gradebook to another, exactly and idempotently.

Parallel and distributed grading let nbgrader write each submission into a gradebook of its own (nbgrader's
SQLite gradebook takes one writer at a time) and bring the result back into the course's gradebook. That copy
must lose nothing and leave nothing behind: every column of the student, the submitted assignment (timestamp,
extension), each submitted notebook (flagged, late_submission_penalty), each grade (auto_score, manual_score,
extra_credit, needs_manual_grade) and each comment (auto_comment, manual_comment) is replaced, None included, so a
penalty or a score from an earlier run never survives a rerun.

The columns are read from nbgrader's SQLAlchemy models rather than listed here, so a column a later nbgrader adds
is copied too. Rows are matched by their natural keys (assignment, student, notebook name, cell name), never by
the surrogate ids, which differ between gradebooks.

A dump is plain JSON-compatible data (datetimes as ISO strings, intervals as seconds), so it can travel from a
Dask worker to the client, or be written to a file, without pickling nbgrader objects.
"""

from __future__ import annotations

import datetime
import warnings

__all__ = ["GradebookMismatch", "dump_submission", "load_submission", "merge_submission"]


class GradebookMismatch(ValueError):
    """The two gradebooks disagree about the assignment's notebooks or cells (e.g. it was released again in
    between): the submission cannot be copied field by field."""


def _quiet():
    # SQLAlchemy warns about nbgrader's lazy relationships on every query
    warnings.filterwarnings("ignore", module="nbgrader.api")
    warnings.filterwarnings("ignore", message=".*not in session.*")


def _columns(row):
    """The mapped columns of a row that carry data: neither its surrogate id nor a foreign key."""
    from sqlalchemy import inspect

    for attr in inspect(type(row)).column_attrs:
        column = attr.columns[0]
        if column.primary_key or column.foreign_keys:
            continue
        yield attr.key, column


def _encode(value, column):
    from sqlalchemy import DateTime, Interval

    if value is None:
        return None
    if isinstance(column.type, DateTime):
        return value.isoformat()
    if isinstance(column.type, Interval):
        return value.total_seconds()
    return value


def _decode(value, column):
    from sqlalchemy import DateTime, Interval

    if value is None:
        return None
    if isinstance(column.type, DateTime):
        return datetime.datetime.fromisoformat(value)
    if isinstance(column.type, Interval):
        return datetime.timedelta(seconds=value)
    return value


def _fields(row) -> dict:
    return {key: _encode(getattr(row, key), column) for key, column in _columns(row)}


def _assign(row, fields: dict, what: str) -> None:
    columns = dict(_columns(row))
    if set(fields) != set(columns):
        raise GradebookMismatch(f"{what}: the gradebooks have different columns "
                                f"({sorted(set(fields) ^ set(columns))}); are they the same nbgrader version?")
    for key, value in fields.items():
        setattr(row, key, _decode(value, columns[key]))


def _dump(gb, assignment: str, student: str) -> dict:
    submission = gb.find_submission(assignment, student)
    return {
        "assignment": assignment,
        "student": {"id": student, **_fields(submission.student)},
        "submission": _fields(submission),
        "notebooks": {
            nb.name: {
                "fields": _fields(nb),
                "grades": {grade.name: _fields(grade) for grade in nb.grades},
                "comments": {comment.name: _fields(comment) for comment in nb.comments},
            }
            for nb in submission.notebooks
        },
    }


def dump_submission(db_url: str, assignment: str, student: str) -> dict:
    """Everything the gradebook at db_url holds about one student's submission of one assignment, as plain data.

    Raises nbgrader.api.MissingEntry when there is no such submission.
    """
    from nbgrader.api import Gradebook

    _quiet()
    with Gradebook(db_url) as gb:
        return _dump(gb, assignment, student)


def _load(gb, data: dict) -> None:
    from nbgrader.api import MissingEntry

    assignment, student = data["assignment"], data["student"]["id"]
    row = gb.update_or_create_student(student)
    _assign(row, {k: v for k, v in data["student"].items() if k != "id"}, f"student {student}")
    try:
        submission = gb.find_submission(assignment, student)
    except MissingEntry:
        # creates a notebook row, and a grade and comment row per cell, for every notebook of the assignment
        submission = gb.add_submission(assignment, student)
    what = f"{student}/{assignment}"
    ours = {nb.name: nb for nb in submission.notebooks}
    # check that every row matches before changing any, so a mismatch leaves the gradebook as it was
    if set(ours) != set(data["notebooks"]):
        raise GradebookMismatch(f"{what}: notebooks {sorted(ours)} here, {sorted(data['notebooks'])} in the "
                                "graded copy")
    for name, nb in ours.items():
        theirs = data["notebooks"][name]
        for kind, rows in (("grades", nb.grades), ("comments", nb.comments)):
            if {r.name for r in rows} != set(theirs[kind]):
                raise GradebookMismatch(f"{what}/{name}: {kind} for cells {sorted(r.name for r in rows)} here, "
                                        f"{sorted(theirs[kind])} in the graded copy")
    _assign(submission, data["submission"], what)
    for name, nb in ours.items():
        theirs = data["notebooks"][name]
        _assign(nb, theirs["fields"], f"{what}/{name}")
        for grade in nb.grades:
            _assign(grade, theirs["grades"][grade.name], f"{what}/{name}/{grade.name}")
        for comment in nb.comments:
            _assign(comment, theirs["comments"][comment.name], f"{what}/{name}/{comment.name}")


def load_submission(db_url: str, data: dict) -> None:
    """Replace one submission in the gradebook at db_url by a dump_submission() of it, every field included.

    The assignment must already be in that gradebook (released) with the same notebooks and cells; otherwise
    GradebookMismatch (a ValueError) is raised before any field is changed (at most an empty submission row that
    nbgrader creates is left). Loading the same dump twice changes nothing.
    """
    from nbgrader.api import Gradebook

    _quiet()
    with Gradebook(db_url) as gb:
        try:
            _load(gb, data)
        except Exception:
            gb.db.rollback()
            raise
        gb.db.commit()


def merge_submission(src_url: str, dst_url: str, assignment: str, student: str) -> None:
    """Copy one graded submission from the gradebook at src_url into the one at dst_url, replacing what dst_url
    held for it."""
    load_submission(dst_url, dump_submission(src_url, assignment, student))
