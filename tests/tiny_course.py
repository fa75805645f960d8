"""A tiny nbgrader course in coursekit's layout, for the grading-pipeline tests that need a whole course but not
the real assignments: one notebook, no torch, two auto-graded tests, one manually graded answer; graded in about a
second per submission.

The course's nbgrader configuration is the real one (course/nbgrader_config.py: sandboxed kernels, the same
preprocessors) with late submissions scored zero, so late penalties show up in the gradebook.
"""

from __future__ import annotations

import datetime
import shutil
import sqlite3
import warnings
from pathlib import Path

import pytest

# the grading tests need the course extra; in a numpy-only environment the test modules using this one skip
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "tiny"
DUE = datetime.datetime(2030, 1, 1, 12, 0, 0)
HOUR = datetime.timedelta(hours=1)


def _cell(kind, source, **nbgrader):
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    if nbgrader:
        nbgrader.setdefault("schema_version", 3)
        nbgrader.setdefault("locked", False)
        nbgrader.setdefault("solution", False)
        nbgrader.setdefault("grade", False)
        cell.metadata["nbgrader"] = nbgrader
    return cell


def source_notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        _cell("markdown", "Write `double(x)` and explain it."),
        _cell("code", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
              grade_id="double", solution=True),
        _cell("code", "assert double(2) == 4", grade_id="test_two", grade=True, locked=True, points=1),
        _cell("code", "assert double(-3) == -6", grade_id="test_negative", grade=True, locked=True, points=2),
        _cell("markdown", "YOUR ANSWER HERE", grade_id="explain", grade=True, solution=True, points=1),
    ]
    return nb


def make_course(root: Path) -> Path:
    """Write the tiny course under root (solutions/, course/) and return root; release it with Course.release."""
    root = Path(root)
    (root / "solutions" / ASSIGNMENT).mkdir(parents=True)
    (root / "course").mkdir()
    nbformat.write(source_notebook(), root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    for name in ("timeouts.json", "release_header.ipynb"):
        shutil.copyfile(ROOT / "course" / name, root / "course" / name)
    config = (ROOT / "course" / "nbgrader_config.py").read_text()
    (root / "course" / "nbgrader_config.py").write_text(config + '\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    return root


def submit(root: Path, student: str, body: str = "return 2 * x", timestamp: datetime.datetime | None = None,
           explanation: str = "It doubles.") -> Path:
    """Hand in the released notebook with double() answered by body (and a timestamp.txt when given)."""
    root = Path(root)
    nb = nbformat.read(root / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "double":
            cell.source = f"def double(x):\n    {body}"
        elif grade_id == "explain":
            cell.source = explanation
    folder = root / "course" / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
    if timestamp is not None:
        (folder / "timestamp.txt").write_text(timestamp.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    return folder


# table -> columns that identify a row across gradebooks (after its foreign keys are resolved)
NATURAL_KEYS = {
    "course": ["id"],
    "assignment": ["name"],
    "notebook": ["name", "assignment_id"],
    "base_cell": ["name", "notebook_id"],
    "grade_cells": ["id"],
    "solution_cells": ["id"],
    "task_cells": ["id"],
    "source_cell": ["name", "notebook_id"],
    "student": ["id"],
    "submitted_assignment": ["assignment_id", "student_id"],
    "submitted_notebook": ["notebook_id", "assignment_id"],
    "grade": ["cell_id", "notebook_id"],
    "comment": ["cell_id", "notebook_id"],
}


def database_rows(path) -> dict:
    """{table: sorted rows}, each row a dict of every column; ids and foreign keys become the natural key of the
    row they point to, so two gradebooks written in a different order compare equal exactly when they agree."""
    db = sqlite3.connect(path)
    tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
              if t != "alembic_version"]
    assert set(tables) == set(NATURAL_KEYS), f"nbgrader's schema changed: {sorted(tables)}"
    raw, foreign = {}, {}
    for table in tables:
        cursor = db.execute(f"SELECT * FROM {table}")  # noqa: S608 - table names come from sqlite_master
        names = [c[0] for c in cursor.description]
        raw[table] = {row[names.index("id")]: dict(zip(names, row)) for row in cursor}
        foreign[table] = {fk[3]: fk[2] for fk in db.execute(f"PRAGMA foreign_key_list({table})")}
    db.close()

    def key(table, row_id):
        if row_id is None:
            return None
        row = raw[table][row_id]
        return (table, *[resolve(table, column, row[column]) for column in NATURAL_KEYS[table]])

    def resolve(table, column, value):
        if column in foreign[table]:
            return key(foreign[table][column], value)
        return value

    dump = {}
    for table, rows in raw.items():
        surrogate = NATURAL_KEYS[table] != ["id"] and "id" not in foreign[table]
        dump[table] = sorted(({c: resolve(table, c, v) for c, v in row.items() if not (c == "id" and surrogate)}
                              for row in rows.values()), key=repr)
    return dump


def build(root):
    """The tiny course released, with a due date, an extension and four submissions (one late, one without a
    timestamp and an unanswered written answer), ready to grade."""
    from nbgrader.api import Gradebook

    from coursekit.course.pipeline import Course

    course = Course(make_course(root))
    course.release(ASSIGNMENT)
    with Gradebook(f"sqlite:///{course.course / 'gradebook.db'}") as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy on nbgrader's lazy relationships
        gb.update_or_create_assignment(ASSIGNMENT, duedate=DUE)
        gb.update_or_create_student("carol", first_name="Carol", email="carol@example.org")
        gb.add_submission(ASSIGNMENT, "carol").extension = 2 * HOUR  # late by one hour, within her extension
        gb.db.commit()
    submit(root, "alice", timestamp=DUE - HOUR)
    submit(root, "bob", body="return x + 2", timestamp=DUE + HOUR)  # half right and late: penalised
    submit(root, "carol", timestamp=DUE + HOUR)
    # no timestamp.txt, and the written answer left as released
    submit(root, "dave", body="raise ValueError('no')", explanation="YOUR ANSWER HERE")
    return course


def grade(course, jobs: int) -> dict:
    """Autograde every submission with --jobs jobs; the gradebook's rows afterwards (database_rows)."""
    results = course.autograde(course.submissions(), jobs=jobs, progress=None)
    assert all(r.ok for r in results), [r.detail for r in results if not r.ok]
    return database_rows(course.course / "gradebook.db")
