"""Judging a whole notebook's hidden tests in this process, the way the grader does (coursekit.course.execute):
one fresh module of judges per notebook, every test cell's cases drawn in notebook order before anything runs, each
cell's cases present only while it runs and its answers sealed when it ends, then every judge called with every
cell's answers (``judge(answers, records, cells)``). No kernel, no sandbox: seconds, not minutes.

Two ways in:

- ``grade_answers(assignment, answer, seed)``: ``answer(grade_id, case)`` plays the student's functions (what each
  hidden test's lambda would return); exceptions become ``Raised``. For audits over many seeds.
- ``grade_notebook(nb, assignment, seed)``: a student's notebook (a sample of course/make_submissions.py) run cell
  by cell in one namespace, its test cells restored from solutions/ as nbgrader's OverwriteCells does, its hidden
  tests answering through the real ``coursekit.grading`` into a grading folder.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path

import nbformat
import numpy as np

from coursekit.course.answers import read_answers, read_records, write_cases
from coursekit.course.judging import CellAnswers, Missing, Raised, Verdict, call_judge, load_judges
from coursekit.grading import decode_value, encode_value
from coursekit.grading.wire import GRADING_DIR_ENV

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"a1_conv_arithmetic": "conv_arithmetic", "a2_batchnorm": "batchnorm", "a3_unet": "unet_segmentation"}
COURSE = ROOT / "course"  # where the judges are read from
MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)[ \t]*\n", re.M)


def wire(value):
    """A value as the grader reads it back from a kernel."""
    return decode_value(encode_value(value))


def seeded(seed: int, grade_id: str) -> np.random.Generator:
    """A generator like the grader's: a different stream per secret seed and per cell."""
    return np.random.default_rng([seed, sum(grade_id.encode())])


def _meta(cell):
    return cell.metadata.get("nbgrader", {})


def solution(assignment: str):
    return nbformat.read(ROOT / "solutions" / assignment / f"{NOTEBOOKS[assignment]}.ipynb", as_version=4)


def graded_cells(assignment: str) -> dict:
    """{grade_id: points} of the judged test cells, in notebook order."""
    return {_meta(c)["grade_id"]: float(_meta(c).get("points", 0)) for c in solution(assignment).cells
            if _meta(c).get("grade")}


def _draw(assignment, seed, rng_for=seeded):
    module = load_judges(assignment, COURSE)  # a fresh module: nothing left from another notebook
    return {grade_id: module.tests[grade_id](rng_for(seed, grade_id)) for grade_id in graded_cells(assignment)}


def _answer_cell(cases, fn) -> CellAnswers:
    answers = []
    for case in cases:
        try:
            answers.append(wire(fn(case)))
        except Exception as exc:  # noqa: BLE001 - what grading.answer records
            answers.append(Raised(type(exc).__name__, str(exc)))
    return CellAnswers(answers, {}, ())


class Drawn:
    """One notebook's hidden tests drawn for one secret seed (every cell, in notebook order, in a module of judges
    of its own), ready to judge any number of students: the judges are pure functions of the answers."""

    def __init__(self, assignment: str, seed: int = 0, rng_for=seeded):
        self.assignment, self.seed = assignment, seed
        self.drawn = _draw(assignment, seed, rng_for)
        self.cases = {grade_id: wire(cases) for grade_id, (cases, _) in self.drawn.items()}

    def answer(self, answer, grade_ids=None) -> dict:
        """{grade_id: CellAnswers} of answer(grade_id, case) on every case of the given cells (default: all)."""
        return {grade_id: _answer_cell(self.cases[grade_id], lambda case, g=grade_id: answer(g, case))
                for grade_id in (self.cases if grade_ids is None else grade_ids)}

    def judge(self, cells: dict, grade_ids=None) -> dict:
        """{grade_id: Verdict}; cells not answered count as not run (every answer Missing)."""
        cells = {g: cells.get(g) or CellAnswers([Missing] * len(c), {}, ()) for g, c in self.cases.items()}
        return {grade_id: _verdict(self.drawn[grade_id][1], cells, grade_id)
                for grade_id in (self.cases if grade_ids is None else grade_ids)}

    def grade(self, answer) -> dict:
        return self.judge(self.answer(answer))


def _verdict(judge, cells, grade_id) -> Verdict:
    verdict = call_judge(judge, cells[grade_id].answers, cells[grade_id].records, cells)
    assert isinstance(verdict, Verdict)
    return verdict


def _judge_all(drawn, cells) -> dict:
    return {grade_id: _verdict(judge, cells, grade_id) for grade_id, (_, judge) in drawn.items()}


def grade_answers(assignment: str, answer, seed: int = 0, rng_for=seeded) -> dict:
    """{grade_id: Verdict} for a student played by answer(grade_id, case)."""
    return Drawn(assignment, seed, rng_for).grade(answer)


def grade_answers_with_cases(assignment: str, answer, seed: int = 0, rng_for=seeded) -> tuple[dict, dict]:
    """({grade_id: Verdict}, {grade_id: its cases as the kernel saw them}); answer(grade_id, case) plays the
    student, cell after cell in notebook order."""
    drawn = Drawn(assignment, seed, rng_for)
    return drawn.grade(answer), drawn.cases


def score(assignment: str, verdicts: dict) -> float:
    points = graded_cells(assignment)
    return round(sum(points[g] * v.score for g, v in verdicts.items()), 6)


def grade_notebook(nb, assignment: str, seed: int = 0) -> dict:
    """{grade_id: Verdict} for a student's notebook run here cell by cell (its test cells the instructor's; plots
    skipped)."""
    tests = {_meta(c)["grade_id"]: MARKERS.sub("", c.source) for c in solution(assignment).cells
             if _meta(c).get("grade")}
    drawn = _draw(assignment, seed)
    namespace = {"__name__": "__main__"}
    cells = {}
    before = os.environ.get(GRADING_DIR_ENV)
    with tempfile.TemporaryDirectory() as folder:
        grading = Path(folder)
        for sub in ("cases", "answers", "records"):
            (grading / sub).mkdir()
        os.environ[GRADING_DIR_ENV] = str(grading)
        os.environ.setdefault("MPLBACKEND", "Agg")
        try:
            for cell in nb.cells:
                grade_id = _meta(cell).get("grade_id")
                if cell.cell_type != "code" or "viz.plot" in cell.source:
                    continue
                source = tests.get(grade_id, MARKERS.sub("", cell.source)) if _meta(cell).get("grade") else \
                    MARKERS.sub("", cell.source)
                if grade_id in drawn:
                    write_cases(grading, grade_id, drawn[grade_id][0])
                try:
                    with contextlib.redirect_stdout(io.StringIO()):
                        exec(compile(source, grade_id or "cell", "exec"), namespace)
                except Exception:  # noqa: BLE001 - a failing visible test, as in a kernel: the next cell runs
                    pass
                if grade_id in drawn:
                    n = len(drawn[grade_id][0])
                    cells[grade_id] = CellAnswers(read_answers(grading, grade_id, n), read_records(grading, grade_id))
                    for path in (grading / "cases").glob("*"):
                        path.unlink()
        finally:
            if before is None:
                os.environ.pop(GRADING_DIR_ENV, None)
            else:
                os.environ[GRADING_DIR_ENV] = before
    for grade_id, (cases, _) in drawn.items():
        cells.setdefault(grade_id, CellAnswers([Missing] * len(cases), {}))
    return _judge_all(drawn, cells)


class _Capture:
    """Stands in for coursekit.grading while a hidden region runs: keeps the function it would answer with."""

    def __init__(self):
        self.fns = {}

    def answer(self, grade_id, fn):
        self.fns[grade_id] = fn

    def __getattr__(self, name):  # visible helpers (assert_close, ...) are not needed to build a student
        import coursekit.grading as grading

        return getattr(grading, name)


HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def student(assignment: str, edits=(), after: str = ""):
    """answer(grade_id, case) of a student whose notebook is the solution with ``edits`` ((cell's grade_id, old
    text or None for the whole cell, new text), as course/make_submissions.py's replace_in) and ``after`` (code
    run after every solution cell): the solution cells run in one namespace, and each hidden test's function taken
    from its own region."""
    namespace = {"__name__": "__main__"}
    capture = _Capture()
    changes = {}
    for grade_id, old, new in edits:
        changes.setdefault(grade_id, []).append((old, new))
    for cell in solution(assignment).cells:
        meta = _meta(cell)
        if cell.cell_type != "code":
            continue
        if meta.get("grade"):
            region = HIDDEN.search(cell.source)
            if region and not meta.get("solution"):
                local = dict(namespace, grading=capture)
                exec(compile(region.group(1), meta["grade_id"], "exec"), local)
            if not meta.get("solution"):
                continue
        if not (meta.get("solution") or meta.get("grade_id", "").endswith("setup")):
            continue
        source = MARKERS.sub("", cell.source)
        for old, new in changes.pop(meta.get("grade_id"), []):
            if old is None:  # the whole cell rewritten
                source = new
                continue
            if old not in source:
                raise ValueError(f"{old!r} not found in cell {meta.get('grade_id')}")
            source = source.replace(old, new)
        exec(compile(source, meta.get("grade_id", "cell"), "exec"), namespace)
    if changes:
        raise ValueError(f"no such cells: {sorted(changes)}")
    if after:
        exec(compile(after, "after", "exec"), namespace)
        # the hidden regions again, so that they see the functions as they are now
        for cell in solution(assignment).cells:
            region = HIDDEN.search(cell.source) if _meta(cell).get("grade") else None
            if region:
                exec(compile(region.group(1), _meta(cell)["grade_id"], "exec"), dict(namespace, grading=capture))
    return lambda grade_id, case: capture.fns[grade_id](case)
