"""The gradebook read once into plain data: every assignment's and cell's maximum, every student's name, every
submission's score, penalty, timestamp, flags and per-cell grades. ``export`` writes it out, ``report`` plots it.

Read through nbgrader's API (its own score and lateness properties), in this process: one gradebook opened once,
instead of an nbgrader subprocess per question.
"""

from __future__ import annotations

import datetime
import warnings
from dataclasses import dataclass, field

__all__ = ["CellGrade", "SubmissionScore", "ScoreTable", "read_scores"]


@dataclass
class CellGrade:
    notebook: str
    cell: str
    score: float
    max_score: float
    auto_score: float | None
    manual_score: float | None
    needs_manual_grade: bool


@dataclass
class SubmissionScore:
    student: str
    assignment: str
    score: float                    # after the late penalty
    raw_score: float
    max_score: float
    late_penalty: float
    timestamp: datetime.datetime | None
    seconds_late: float
    extension_seconds: float | None
    flagged: bool                   # a notebook is flagged (coursekit flags edited test cells)
    needs_manual_grade: bool
    cells: dict = field(default_factory=dict)   # cell name -> CellGrade


@dataclass
class ScoreTable:
    assignments: list               # names, sorted
    students: list                  # ids, sorted
    names: dict                     # id -> (first_name, last_name)
    emails: dict
    max_score: dict                 # assignment -> points
    duedate: dict                   # assignment -> datetime or None
    cell_max: dict                  # assignment -> {cell name: points}, in notebook order
    submissions: dict               # (student, assignment) -> SubmissionScore

    def score(self, student: str, assignment: str) -> float | None:
        """The score after penalties; None when nothing was handed in."""
        found = self.submissions.get((student, assignment))
        return None if found is None else found.score


def read_scores(db_url: str, assignment: str | None = None) -> ScoreTable:
    """Everything the gradebook at db_url holds about scores (one assignment's, when named)."""
    from nbgrader.api import Gradebook

    warnings.filterwarnings("ignore", module="nbgrader.api")
    with Gradebook(db_url) as gb:
        assignments = [a for a in gb.assignments if assignment in (None, a.name)]
        if assignment is not None and not assignments:
            raise ValueError(f"assignment={assignment!r} is not in the gradebook (released assignments: "
                             f"{', '.join(sorted(a.name for a in gb.assignments)) or 'none'})")
        students = sorted(gb.students, key=lambda s: s.id)
        table = ScoreTable(
            assignments=sorted(a.name for a in assignments), students=[s.id for s in students],
            names={s.id: (s.first_name, s.last_name) for s in students},
            emails={s.id: s.email for s in students},
            max_score={a.name: float(a.max_score) for a in assignments},
            duedate={a.name: a.duedate for a in assignments},
            cell_max={a.name: {c.name: float(c.max_score) for nb in a.notebooks for c in nb.grade_cells}
                      for a in assignments},
            submissions={})
        for a in assignments:
            for sub in a.submissions:
                cells = {}
                for nb in sub.notebooks:
                    for grade in nb.grades:
                        cells[grade.name] = CellGrade(nb.name, grade.name, float(grade.score), float(grade.max_score),
                                                      grade.auto_score, grade.manual_score,
                                                      bool(grade.needs_manual_grade))
                extension = sub.extension.total_seconds() if sub.extension is not None else None
                table.submissions[(sub.student.id, a.name)] = SubmissionScore(
                    sub.student.id, a.name, max(0.0, float(sub.score) - float(sub.late_submission_penalty or 0)),
                    float(sub.score), float(sub.max_score), float(sub.late_submission_penalty or 0), sub.timestamp,
                    float(sub.total_seconds_late or 0), extension, any(nb.flagged for nb in sub.notebooks),
                    bool(sub.needs_manual_grade), cells)
    return table
