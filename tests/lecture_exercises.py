"""What a lecture with write-it-yourself exercises promises its student, checked on the stored notebook and on runs
with the exercises filled in (tests/test_lecture_NN.py use these).

The stored notebook is the student's view: every stub unfilled (`raise NotImplementedError`, or `name = ...` for a
numeric answer), every check saying NOT ATTEMPTED, every collapsed solution saying PASS, no answer printed by a
visible cell, and no test scaffolding in the sources (nbval markers are cell tags; regression asserts live here in
tests/). A run with the collapsed solutions typed into the stubs and the published numbers filled in must print
only PASS; a run with every answer wrong must print FAIL for each and still reach the end of the lecture.
"""

from __future__ import annotations

import copy
import importlib.util
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("execute_lectures", ROOT / "scripts" / "execute_lectures.py")
execute_lectures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute_lectures)

VERDICT = re.compile(r"^(PASS|FAIL|NOT ATTEMPTED)  (.*)$", re.M)
NUMERIC_STUB = re.compile(r"^(\w+) = \.\.\.", re.M)
FUNCTION_STUB = re.compile(r"^def (\w+)\(.*?^\s+raise NotImplementedError\s*$", re.M | re.S)


def load(path: Path):
    return nbformat.read(path, as_version=4)


def hidden(cell) -> bool:
    return bool(cell.metadata.get("jupyter", {}).get("source_hidden"))


def text_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def verdicts(cell) -> list[tuple[str, str]]:
    return VERDICT.findall(text_of(cell))


def function_stubs(nb) -> dict[str, str]:
    """{cell id: function name} of the cells that hold an unfilled function."""
    return {c.id: m.group(1) for c in nb.cells if c.cell_type == "code" and (m := FUNCTION_STUB.search(c.source))}


def numeric_stubs(nb) -> dict[str, list[str]]:
    """{cell id: [variable names]} of the cells that hold unfilled numeric answers."""
    return {c.id: names for c in nb.cells if c.cell_type == "code" and (names := NUMERIC_STUB.findall(c.source))}


def check_student_view(path: Path) -> dict:
    """Assert what the stored notebook shows a student; returns counts (implement-it and numeric exercises)."""
    nb = load(path)
    problems = []
    functions, numbers = function_stubs(nb), numeric_stubs(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for number, cell in enumerate(code):
        where = f"code cell {number} ({cell.id})"
        if re.search(r"nbval", cell.source, re.I):
            problems.append(f"{where} mentions nbval in its source (use the tags nbval-ignore-output / nbval-skip)")
        if re.search(r"^\s*assert\b", cell.source, re.M):
            problems.append(f"{where} asserts; state a claim with exercises.checked(...) or move the check to tests/")
        found = verdicts(cell)
        if hidden(cell):
            kinds = {kind for kind, _ in found}
            if not found:
                problems.append(f"{where} is collapsed but prints no verdict (a solution or check must check itself)")
            elif kinds not in ({"PASS"}, {"NOT ATTEMPTED"}):
                problems.append(f"{where}: a collapsed cell printed {sorted(kinds)}")
        else:
            if any(kind == "PASS" for kind, _ in found):
                problems.append(f"{where} is visible and prints PASS: an answer shown before the student's attempt")
            if (cell.id in functions or cell.id in numbers) and cell.get("outputs"):
                problems.append(f"{where} is a stub but has output")
            if "exercises.check(" in cell.source and [k for k, _ in found] != ["NOT ATTEMPTED"]:
                problems.append(f"{where}: the stored check of an unfilled stub should say NOT ATTEMPTED, got {found}")
    for cell_id in list(functions) + list(numbers):
        if hidden(nb.cells[[c.id for c in nb.cells].index(cell_id)]):
            problems.append(f"stub {cell_id} is collapsed: the student must see it")
    assert not problems, "\n".join(problems)
    return {"write it yourself": len(functions), "numeric": len(numbers)}


def _solution_of(nb, stub_id: str, name: str) -> str:
    """The collapsed solution of the function stub, renamed as the student's function (what a student who copied
    it would have typed)."""
    ids = [c.id for c in nb.cells]
    for cell in nb.cells[ids.index(stub_id) + 1:]:
        if hidden(cell) and f"def {name}_solution(" in cell.source:
            body = cell.source[cell.source.index(f"def {name}_solution("):]
            body = body[:re.search(r"\n(_ = )?exercises\.check\(", body).start()]
            return body.replace(f"def {name}_solution(", f"def {name}(", 1)
    raise AssertionError(f"no collapsed cell defines {name}_solution after stub {stub_id}")


def solved(nb, answers: dict[str, str]):
    """A copy with every function stub replaced by its solution and every numeric stub by answers[cell id]."""
    nb = copy.deepcopy(nb)
    missing = set(numeric_stubs(nb)) - set(answers)
    assert not missing, f"the test has no answers for the numeric stubs {sorted(missing)}"
    functions = function_stubs(nb)
    for cell in nb.cells:
        if cell.id in functions:
            cell.source = _solution_of(nb, cell.id, functions[cell.id])
        elif cell.id in answers:
            cell.source = answers[cell.id]
    return nb


def sabotaged(nb):
    """A copy in which every function returns nonsense and every numeric answer is -12345."""
    nb = copy.deepcopy(nb)
    functions, numbers = function_stubs(nb), numeric_stubs(nb)
    for cell in nb.cells:
        if cell.id in functions:
            cell.source = re.sub(r"^(\s+)raise NotImplementedError\s*$", r"\1return np.full((2, 3), -12345.0)",
                                 cell.source, flags=re.M)
        elif cell.id in numbers:
            cell.source = NUMERIC_STUB.sub(r"\1 = -12345", cell.source)
    return nb


def run(nb):
    """Execute nb (a copy) as make lectures does, in the lectures folder; returns it with outputs."""
    execute_lectures.run(nb, ROOT / "lectures")
    return nb


def exercise_verdicts(nb) -> tuple[list, list]:
    """(verdicts of the checks of the student's work, verdicts of the collapsed solutions checking themselves)."""
    student, solutions = [], []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        is_solution = hidden(cell) and "_solution(" in cell.source
        (solutions if is_solution else student).extend(verdicts(cell))
    return student, solutions


def exercise_tests(lecture: Path, answers: dict[str, str], write_it_yourself: int):
    """The three tests every lecture with exercises owes its student, for tests/test_lecture_NN.py to bind:

        test_student_view, test_solved, test_sabotaged = exercise_tests(LECTURE, ANSWERS, write_it_yourself=3)

    answers: {cell id of a numeric stub: what a student who worked it by hand types}; write_it_yourself: how many
    implement-it exercises the lecture has (each has a collapsed solution that checks itself)."""
    import pytest

    def test_student_view():
        """The stored lecture shows unfilled exercises and no answers."""
        assert check_student_view(lecture) == {"write it yourself": write_it_yourself, "numeric": len(answers)}

    @pytest.mark.slow
    @pytest.mark.notebooks
    def test_solved():
        """A student who solves every exercise sees PASS everywhere."""
        student, solutions = exercise_verdicts(run(solved(load(lecture), answers)))
        assert student and all(kind == "PASS" for kind, _ in student), [v for v in student if v[0] != "PASS"]
        assert len(solutions) == write_it_yourself and all(kind == "PASS" for kind, _ in solutions), solutions

    @pytest.mark.slow
    @pytest.mark.notebooks
    def test_sabotaged():
        """Wrong answers fail with a reason, and the lecture still runs to its end."""
        nb = run(sabotaged(load(lecture)))
        student, solutions = exercise_verdicts(nb)
        assert student and all(kind == "FAIL" for kind, _ in student), [v for v in student if v[0] != "FAIL"]
        assert all(kind == "PASS" for kind, _ in solutions), solutions
        unrun = [n for n, c in enumerate(nb.cells) if c.cell_type == "code" and not c.get("execution_count")]
        assert not unrun, f"cells {unrun} did not run after the wrong answers"

    return test_student_view, test_solved, test_sabotaged
