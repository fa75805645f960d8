"""The student's pre-submit check, `coursekit check NOTEBOOK`: run a notebook the way the autograder will, and say
what it sees.

The same machinery as the grader: the notebook is normalised against the release (copied, duplicated, re-flagged
or deleted graded cells handled the same way; edited test cells run as released), then run top to bottom by the
grader's executor (``ExecuteAndJudge``): the same sandbox on a scratch copy, the same per-cell limits in CPU
seconds (course/timeouts.json), and each test cell scored by nbgrader's own rule. The report lists each graded
test cell (passed, failed with its message, or timed out), solution cells that still raise NotImplementedError,
and cells that differ from the release. Hidden tests exist only on the grader's side; passing the visible ones is
necessary, not sufficient.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import nbformat

from .normalise import kernel_problem, normalise, release_differences
from .release_history import RELEASE_HISTORY, load_release_history


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def find_course(notebook: Path):
    """The nbgrader course (``pipeline.Course``) in a parent folder of the notebook, or None."""
    from .pipeline import Course, NbgraderError

    for parent in notebook.resolve().parents:
        if (parent / "nbgrader_config.py").is_file() or (parent / "course" / "nbgrader_config.py").is_file():
            try:
                return Course(parent)
            except NbgraderError:
                return None
    return None


def find_release(notebook: Path) -> Path | None:
    """The released copy of this notebook: assignments/<assignment>/<name>.ipynb in a parent folder, else the
    release directory of the nbgrader course the notebook is in."""
    for parent in [notebook.resolve().parent, *notebook.resolve().parents]:
        candidates = sorted((parent / "assignments").glob(f"*/{notebook.name}"))
        if candidates:
            return candidates[0]
    course = find_course(notebook)
    if course is not None:
        assignment = notebook.resolve().parent.name
        for candidate in (course.release_dir / assignment / notebook.name,
                          *sorted(course.release_dir.glob(f"*/{notebook.name}"))):
            if candidate.is_file():
                return candidate
    return None


def release_history(release: Path | None) -> dict:
    """{grade_id: digests of every released version} of the course the release belongs to ({} if none is found)."""
    if release is None:
        return {}
    course = find_course(release)
    if course is None:
        return {}
    versions = load_release_history(course.course / RELEASE_HISTORY)
    return {k: set(v) for k, v in versions.get(release.parent.name, {}).get(release.stem, {}).items()}


def compare_with_release(nb, release, history: dict | None = None) -> list[str]:
    """What the grader will do about each test or read-only cell that was changed or deleted."""
    problems = []
    for d in release_differences(nb, release, history):
        cell = f"{d['kind']} cell {d['grade_id']}"
        if d["missing"]:
            problems.append(f"{cell} is missing: the grader restores it and runs it as released")
        else:
            what = " and ".join(d["reasons"]).replace("its ", "")
            consequence = ("the grader restores it, runs it as released and reports the edit" if d["kind"] == "test"
                           else "the grader restores the original")
            problems.append(f"{cell} was changed ({what}): {consequence}")
    return problems


def run(notebook: Path, release: Path | None = None, timeouts: dict | None = None):
    """Normalise a copy of the notebook against the release and execute it with the grader's executor.

    timeouts: {"timeouts_file": ..., "default_timeout": ...} of the course (the grader's per-cell limits); None:
    coursekit's own course/timeouts.json."""
    from .config import COURSE_DIR
    from .execute import ExecuteAndJudge
    from .sandbox import available

    nb = nbformat.read(notebook, as_version=4)
    executed = copy.deepcopy(nb)
    if release is not None and release.is_file() and release.resolve() != notebook.resolve():
        normalise(executed, nbformat.read(release, as_version=4), history=release_history(release))
    if not available():
        print("note: bubblewrap is not available here, so this check runs without the grader's sandbox")
    with tempfile.TemporaryDirectory(prefix="coursekit-check-") as nowhere:
        # no course/judges here: hidden tests are the grader's alone, so only the visible tests run
        executor = ExecuteAndJudge(timeout=1200, interrupt_on_timeout=True, allow_errors=True,
                                   kernel_name="python3", course_directory=nowhere, student_override="check",
                                   require_sandbox=False,
                                   extra_arguments=["--HistoryManager.hist_file=:memory:"],
                                   **(timeouts if timeouts is not None else
                                      {"timeouts_file": str(COURSE_DIR / "timeouts.json")}))
        resources = {"nbgrader": {"assignment": release.parent.name if release else "", "notebook": notebook.stem,
                                  "student": "check"}, "metadata": {}}
        executed, _ = executor.preprocess(executed, resources)
    return nb, executed


def report(executed) -> tuple[list[str], float, float]:
    """One line per graded cell, scored with nbgrader's own rule (determine_grade), as the grader scores it."""
    from nbgrader.utils import determine_grade

    lines, earned, possible = [], 0.0, 0.0
    for cell in executed.cells:
        meta = _nbgrader(cell)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if meta.get("solution") and cell.cell_type == "code":
            if "raise NotImplementedError" in cell.source or any(e.get("ename") == "NotImplementedError"
                                                                   for e in errors):
                lines.append(f"  TODO  {meta.get('grade_id')}: still raises NotImplementedError")
            elif errors:
                lines.append(f"  ERROR {meta.get('grade_id')}: {errors[0].get('ename')}: {errors[0].get('evalue')}")
        if meta.get("grade") and not meta.get("solution") and cell.cell_type == "code":
            score, points = determine_grade(cell)
            score = float(score or 0.0)
            possible += points
            earned += score
            if score >= points:
                lines.append(f"  pass  {meta.get('grade_id')} ({points:g} point{'s' if points != 1 else ''})")
            elif errors:
                e = errors[0]
                reason = ("timed out" if e.get("ename") == "CellTimeoutError"
                          else f"{e.get('ename')}: {e.get('evalue')}")
                lines.append(f"  FAIL  {meta.get('grade_id')} ({score:g} / {points:g}): {reason}")
            else:
                lines.append(f"  FAIL  {meta.get('grade_id')} ({score:g} / {points:g}): it wrote to stderr, which "
                             "nbgrader scores 0 in a test cell")
    return lines, earned, possible


def main(notebook: str, release: str | None = None) -> int:
    path = Path(notebook)
    if not path.is_file():
        print(f"coursekit check: no notebook at {path}")
        return 2
    release_path = Path(release) if release else find_release(path)
    problem = kernel_problem(nbformat.read(path, as_version=4))
    if problem:
        print(f"coursekit check {path.name}: {problem}")
        return 2
    course = find_course(release_path or path)
    # the course's per-cell limits, as the grader will apply them
    nb, executed = run(path, release_path, course.timeout_settings() if course is not None else None)
    lines, earned, possible = report(executed)
    print(f"coursekit check {path.name}: ran every cell in a fresh kernel with the grader's time limits")
    print("\n".join(lines))
    if release_path and release_path.is_file() and release_path.resolve() != path.resolve():
        problems = compare_with_release(nb, nbformat.read(release_path, as_version=4), release_history(release_path))
        if problems:
            print("changed or deleted cells (compared with " + str(release_path) + "):")
            print("\n".join(f"  {p}" for p in problems))
        else:
            print(f"no test or read-only cell was changed (compared with {release_path})")
    else:
        print("released notebook not found: changed or deleted cells were not checked (use --release)")
    print(f"visible tests: {earned:g} / {possible:g} points. Hidden tests run when your work is graded.")
    return 0
