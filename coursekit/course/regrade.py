"""`coursekit regrade ASSIGNMENT --student S --reason "..."`: grade one submission again, show what changed cell by
cell, and write who, when, why and the scores before and after into the course's audit log.

The submission is graded as `autograde` grades it (``Course.grade_one``: staged, sandboxed, the extensions file
applied) into a copy of the course's gradebook, and then merged back field by field
(``gradebook.merge_submission``). The copy starts from the course's gradebook, and nbgrader's autograde keeps a
grade's manual score and a comment's manual comment (its SaveAutoGrades writes only the automatic ones), so what a
grader entered in the formgrader survives the regrade; a cell with a manual score keeps it, whatever the new
automatic score, and is marked for review as nbgrader does.

The audit log (``<course dir>/audit_log.jsonl``) is append-only JSON lines; ``coursekit report`` shows it.
"""

from __future__ import annotations

import datetime
import getpass
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = ["AUDIT_LOG", "CellChange", "Regrade", "regrade", "read_audit_log", "submission_scores"]

AUDIT_LOG = "audit_log.jsonl"


@dataclass
class CellChange:
    cell: str
    before: float | None
    after: float | None
    max_score: float
    manual: bool          # a manual score decides this cell (kept across the regrade)
    auto_before: float | None = None
    auto_after: float | None = None


@dataclass
class Regrade:
    assignment: str
    student: str
    before: dict | None   # submission_scores() before, None for a first grading
    after: dict
    changes: list         # CellChange for every cell, changed or not
    entry: dict           # the line written to the audit log

    def __str__(self) -> str:
        b = "-" if self.before is None else f"{self.before['total']:g}"
        lines = [f"regraded {self.student}/{self.assignment}: {b} -> {self.after['total']:g} of "
                 f"{self.after['max_score']:g}"]
        width = max([len(c.cell) for c in self.changes] + [4])
        for c in self.changes:
            was = "-" if c.before is None else f"{c.before:g}"
            mark = "" if c.before == c.after else "   changed"
            if c.manual:
                auto = "" if c.auto_before == c.auto_after else \
                    f" (automatic {'-' if c.auto_before is None else f'{c.auto_before:g}'} -> {c.auto_after:g})"
                mark += f"   manual score kept{auto}"
            lines.append(f"   {c.cell:<{width}}  {was:>5} -> {c.after:g} / {c.max_score:g}{mark}")
        penalty = (self.before or {}).get("late_penalty", 0.0), self.after["late_penalty"]
        if any(penalty):
            lines.append(f"   {'late penalty':<{width}}  {penalty[0]:>5g} -> {penalty[1]:g}")
        return "\n".join(lines)


def _grade_score(fields: dict) -> tuple[float, bool]:
    manual = fields.get("manual_score")
    base = manual if manual is not None else (fields.get("auto_score") or 0.0)
    return float(base) + float(fields.get("extra_credit") or 0.0), manual is not None


def submission_scores(dump: dict, max_scores: dict) -> dict:
    """A gradebook dump (``gradebook.dump_submission``) reduced to scores: {"total", "max_score", "late_penalty",
    "cells": {cell: {"score", "manual", "auto_score"}}}."""
    cells, penalty = {}, 0.0
    for notebook in dump["notebooks"].values():
        penalty += float(notebook["fields"].get("late_submission_penalty") or 0.0)
        for name, fields in notebook["grades"].items():
            score, manual = _grade_score(fields)
            cells[name] = {"score": score, "manual": manual, "auto_score": fields.get("auto_score")}
    total = max(0.0, sum(c["score"] for c in cells.values()) - penalty)
    return {"total": round(total, 6), "max_score": sum(max_scores.values()), "late_penalty": penalty,
            "cells": cells}


def _max_scores(db_url: str, assignment: str) -> dict:
    import warnings

    from nbgrader.api import Gradebook

    warnings.filterwarnings("ignore", module="nbgrader.api")
    with Gradebook(db_url) as gb:
        return {c.name: float(c.max_score) for nb in gb.find_assignment(assignment).notebooks
                for c in nb.grade_cells}


def regrade(course, assignment: str, student: str, reason: str, by: str | None = None,
            now: datetime.datetime | None = None) -> Regrade:
    """Grade one submission again and merge it into the course's gradebook; append the audit entry. Raises
    ValueError for a missing reason or submission, NbgraderError when grading fails (nothing is merged then, and
    the failure is logged)."""
    from nbgrader.api import MissingEntry

    from .gradebook import dump_submission, merge_submission
    from .pipeline import NbgraderError, sqlite_path

    if not reason or not reason.strip():
        raise ValueError("reason: say why the submission is regraded (it goes into the audit log)")
    if (student, assignment) not in set(course.submissions()):
        raise ValueError(f"student={student!r}: no submission of {assignment} in {course.submitted_dir}")
    from .config import environment_overrides
    from .kernel_manager import sandbox_kernel_manager

    # raises with installation advice when the sandbox is missing, unless --no-sandbox (COURSEKIT_NO_SANDBOX=1)
    sandbox_kernel_manager(require=environment_overrides().get("require_sandbox", True))
    course.check_config()
    course.check_kernels([assignment])
    try:
        before_dump = dump_submission(course.db_url, assignment, student)
    except MissingEntry:
        before_dump = None
    max_scores = _max_scores(course.db_url, assignment)
    work = Path(course.course) / ".grading-regrade"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    entry = {"time": (now or datetime.datetime.now(datetime.timezone.utc)).isoformat(timespec="seconds"),
             "by": by or _user(), "assignment": assignment, "student": student, "reason": reason.strip(),
             "before": None if before_dump is None else submission_scores(before_dump, max_scores)}
    try:
        main_db = sqlite_path(course.db_url)
        worker_url = None
        if main_db is not None:
            shutil.copyfile(main_db, work / "gradebook.db")
            worker_url = f"sqlite:///{work / 'gradebook.db'}"
        result = course.grade_one(student, assignment, work / "submitted", worker_url)
        if not result.ok:
            entry.update(after=None, outcome="grader error", detail=result.detail.splitlines()[-1:])
            _append(course, entry)
            raise NbgraderError(f"regrading {student}/{assignment} failed; the gradebook is unchanged:\n"
                                f"{result.detail}")
        if worker_url is not None:
            merge_submission(worker_url, course.db_url, assignment, student)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    after = submission_scores(dump_submission(course.db_url, assignment, student), max_scores)
    entry.update(after=after, outcome="regraded", seconds=round(result.seconds, 1))
    _append(course, entry)
    before = entry["before"]
    changes = []
    for cell, points in max_scores.items():
        was = (before or {}).get("cells", {}).get(cell, {})
        now_ = after["cells"].get(cell, {})
        changes.append(CellChange(cell, was.get("score"), now_.get("score"), points, bool(now_.get("manual")),
                                  was.get("auto_score"), now_.get("auto_score")))
    return Regrade(assignment, student, before, after, changes, entry)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _append(course, entry: dict) -> None:
    path = Path(course.course) / AUDIT_LOG
    line = json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n"
    # one write of one line, appended: concurrent regrades never interleave within an entry
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_audit_log(course_dir) -> list[dict]:
    """Every entry of the audit log, oldest first; a line that is not JSON is returned as {"unreadable": line}."""
    path = Path(course_dir) / AUDIT_LOG
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.strip():
            try:
                entries.append(json.loads(line))
            except ValueError:
                entries.append({"unreadable": line})
    return entries
