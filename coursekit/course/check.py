"""`coursekit check NOTEBOOK`: run a student's notebook the way the autograder will, and say what it sees.

Same kernel, fresh, top to bottom, with the same per-cell time limits (course/timeouts.json). The report lists
each graded test cell (passed, failed with its message, or timed out), solution cells that still raise
NotImplementedError, and test or read-only cells that differ from the released notebook or are missing —
changes the autograder gives no credit for. Hidden tests exist only on the grader's side; passing the visible
ones is necessary, not sufficient.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from pathlib import Path

import nbformat

from .plugins import cell_timeout, release_differences


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def find_release(notebook: Path) -> Path | None:
    """The released copy of this notebook: assignments/<assignment>/<name>.ipynb in a parent folder."""
    for parent in [notebook.resolve().parent, *notebook.resolve().parents]:
        candidates = sorted((parent / "assignments").glob(f"*/{notebook.name}"))
        if candidates:
            return candidates[0]
    return None


def compare_with_release(nb, release) -> list[str]:
    """What the grader will do about each test or read-only cell that was changed or deleted."""
    problems = []
    for d in release_differences(nb, release):
        cell = f"{d['kind']} cell {d['grade_id']}"
        if d["missing"]:
            problems.append(f"{cell} is missing: the grader restores it" + (" and it scores 0" if d["kind"] == "test"
                                                                            else ""))
        else:
            what = " and ".join(d["reasons"]).replace("its ", "")
            consequence = "it scores 0" if d["kind"] == "test" else "the grader restores the original"
            problems.append(f"{cell} was changed ({what}): {consequence}")
    return problems


def run(notebook: Path):
    """Execute a copy of the notebook with the grader's executor: same sandbox, limits and final check."""
    from .plugins import ExecuteWithIntegrityCheck
    from .sandbox import available, sandbox_kernel_manager

    nb = nbformat.read(notebook, as_version=4)
    executed = copy.deepcopy(nb)
    if not available():
        print("note: bubblewrap is not available here, so this check runs without the grader's sandbox")
    with tempfile.TemporaryDirectory(prefix="coursekit-check-") as workdir:
        # run in a scratch copy of the notebook's folder, as the grader runs in its own copy
        shutil.copytree(notebook.resolve().parent, workdir, dirs_exist_ok=True)
        executor = ExecuteWithIntegrityCheck(timeout=600, timeout_func=cell_timeout, interrupt_on_timeout=True,
                                             allow_errors=True, kernel_name="python3",
                                             extra_arguments=["--HistoryManager.hist_file=:memory:"],
                                             kernel_manager_class=sandbox_kernel_manager(require=False))
        executed, _ = executor.preprocess(executed, {"metadata": {"path": workdir}})
    return nb, executed


def report(executed) -> tuple[list[str], int, int]:
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
        if meta.get("grade") and not meta.get("solution"):
            points = float(meta.get("points", 0))
            possible += points
            if not errors:
                earned += points
                lines.append(f"  pass  {meta.get('grade_id')} ({points:g} point{'s' if points != 1 else ''})")
            else:
                e = errors[0]
                reason = "timed out" if e.get("ename") == "CellTimeoutError" else f"{e.get('ename')}: {e.get('evalue')}"
                lines.append(f"  FAIL  {meta.get('grade_id')} ({points:g}): {reason}")
    return lines, earned, possible


def main(notebook: str, release: str | None = None) -> int:
    path = Path(notebook)
    if not path.is_file():
        print(f"coursekit check: no notebook at {path}")
        return 2
    nb, executed = run(path)
    lines, earned, possible = report(executed)
    print(f"coursekit check {path.name}: ran every cell in a fresh kernel with the grader's time limits")
    print("\n".join(lines))
    release_path = Path(release) if release else find_release(path)
    if release_path and release_path.is_file() and release_path.resolve() != path.resolve():
        problems = compare_with_release(nb, nbformat.read(release_path, as_version=4))
        if problems:
            print("changed or deleted cells (compared with " + str(release_path) + "):")
            print("\n".join(f"  {p}" for p in problems))
        else:
            print(f"no test or read-only cell was changed (compared with {release_path})")
    else:
        print("released notebook not found: changed or deleted cells were not checked (use --release)")
    print(f"visible tests: {earned:g} / {possible:g} points. Hidden tests run when your work is graded.")
    return 0
