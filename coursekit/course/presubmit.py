"""The student's pre-submit check, `coursekit check NOTEBOOK`: run a notebook the way the autograder will, and say
what it sees.

The same machinery as the grader: the notebook is normalised against the release (copied, duplicated, re-flagged
or deleted graded cells handled the same way; edited test cells run as released), then run top to bottom by the
grader's executor (``ExecuteAndJudge``): the same sandbox on a scratch copy, the same per-cell limits in CPU
seconds (course/timeouts.json), the notebook's own kernel, and each test cell scored by nbgrader's own rule. The
report (``check_report``, the same text the Validate button shows) leads with the verdict per part, then one line
per thing to do, then the cells that differ from the release. Hidden tests exist only on the grader's side;
passing the visible ones is necessary, not sufficient.

The release is found by itself (``find_release``): beside the notebook's course in ``assignments/`` or the
course's release folder, by the notebook's name or, for a renamed copy, by its graded cells; a notebook that *is*
the release (students of this repository work in ``assignments/``) is compared with every version the instructor
released (``course/release_history.json``).
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import nbformat

from .cells import is_readonly, is_test, nbgrader_meta
from .check_report import Report, build_report
from .normalise import kernel_problem, normalise, release_differences
from .release_history import RELEASE_HISTORY, load_release_history, source_digest


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


def _graded_ids(path: Path) -> set[str]:
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable candidate is simply not the release
        return set()
    return {nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c).get("grade_id")}


def _release_candidates(notebook: Path) -> tuple[list[Path], list[Path]]:
    """Released notebooks this one may come from: (near: assignments/*/ in the notebook's folder and its parents,
    then the release folder of the nbgrader course around it; far: coursekit's own course, for a student's copy
    outside the clone with coursekit installed from it), nearest first."""
    from .config import COURSE_DIR

    near: list[Path] = []
    here = notebook.resolve()
    for parent in [here.parent, *here.parents]:
        near += sorted((parent / "assignments").glob("*/*.ipynb"))
    course = find_course(notebook)
    if course is not None and course.release_dir.is_dir():
        near += sorted(course.release_dir.glob("*/*.ipynb"))
    own = find_course(COURSE_DIR) if COURSE_DIR.is_dir() else None
    far = sorted(own.release_dir.glob("*/*.ipynb")) if own is not None and own.release_dir.is_dir() else []
    seen: set[Path] = set()

    def unique(paths):
        kept = []
        for path in paths:
            if path.resolve() not in seen:
                seen.add(path.resolve())
                kept.append(path)
        return kept

    return unique(near), unique(far)


def find_release(notebook: Path) -> Path | None:
    """The released copy of this notebook (possibly the notebook itself, when a student works in the release).

    Among the notebook's own course (``_release_candidates``' near ones): by name, the one in a folder named like
    the notebook's own folder first. Otherwise, and always in coursekit's own course when the notebook lies outside
    it: the release sharing the most graded cells with it (at least half of its own), so a renamed copy is found and
    a foreign notebook that happens to share a name is not taken for one of coursekit's."""
    near, far = _release_candidates(notebook)
    named = [p for p in near if p.name == notebook.name]
    if named:
        same_folder = [p for p in named if p.parent.name == notebook.resolve().parent.name]
        return (same_folder or named)[0]
    mine = _graded_ids(notebook)
    if not mine:
        return None
    best, overlap = None, 0
    for candidate in near + far:
        shared = len(mine & _graded_ids(candidate))
        if shared > overlap:
            best, overlap = candidate, shared
    return best if overlap * 2 >= len(mine) else None


def release_history(release: Path | None) -> dict:
    """{grade_id: digests of every released version} of the course the release belongs to ({} if none is found)."""
    if release is None:
        return {}
    course = find_course(release)
    if course is None:
        return {}
    versions = load_release_history(course.course / RELEASE_HISTORY)
    return {k: set(v) for k, v in versions.get(release.parent.name, {}).get(release.stem, {}).items()}


def compare_with_history(nb, history: dict) -> list[str]:
    """For a notebook that is the release itself: each test or read-only cell whose source is none of the released
    versions (``history``: {grade_id: digests}), and each released one that is gone."""
    problems, seen = [], set()
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id not in history or not (is_test(cell) or is_readonly(cell)):
            continue
        seen.add(grade_id)
        kind = "test" if is_test(cell) else "read-only"
        if source_digest(cell.source) not in history[grade_id]:
            consequence = ("the grader restores it, runs it as released and reports the edit" if kind == "test"
                           else "the grader restores the original")
            problems.append(f"{kind} cell {grade_id} was changed (its source is not the released one): {consequence}")
    for grade_id in sorted(set(history) - seen):
        problems.append(f"cell {grade_id} is missing: the grader restores it and runs it as released")
    return problems


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


def kernel_name(nb) -> str:
    """The kernel the grader starts for this notebook: the release's kernelspec (nbgrader's OverwriteKernelspec
    puts it back on every submission) when it is installed here, else python3."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    name = (nb.get("metadata", {}).get("kernelspec") or {}).get("name") or "python3"
    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return "python3"
    return name


def run(notebook: Path, release: Path | None = None, timeouts: dict | None = None):
    """Normalise a copy of the notebook against the release and execute it with the grader's executor.

    timeouts: {"timeouts_file": ..., "default_timeout": ...} of the course (the grader's per-cell limits); None:
    coursekit's own course/timeouts.json."""
    from .config import COURSE_DIR
    from .execute import ExecuteAndJudge

    nb = nbformat.read(notebook, as_version=4)
    executed = copy.deepcopy(nb)
    released = None
    if release is not None and release.is_file() and release.resolve() != notebook.resolve():
        released = nbformat.read(release, as_version=4)
        normalise(executed, released, history=release_history(release))
    with tempfile.TemporaryDirectory(prefix="coursekit-check-") as nowhere:
        # no course/judges here: hidden tests are the grader's alone, so only the visible tests run
        executor = ExecuteAndJudge(timeout=1200, interrupt_on_timeout=True, allow_errors=True,
                                   kernel_name=kernel_name(released or nb), course_directory=nowhere,
                                   student_override="check",
                                   require_sandbox=False,
                                   extra_arguments=["--HistoryManager.hist_file=:memory:"],
                                   **(timeouts if timeouts is not None else
                                      {"timeouts_file": str(COURSE_DIR / "timeouts.json")}))
        resources = {"nbgrader": {"assignment": release.parent.name if release else "", "notebook": notebook.stem,
                                  "student": "check"}, "metadata": {}}
        executed, _ = executor.preprocess(executed, resources)
    return nb, executed


def report(executed, notebook_name: str = "notebook") -> Report:
    """The verdict-first report of an executed notebook (``check_report``)."""
    return build_report(notebook_name, executed)


def release_findings(path: Path, nb, release_path: Path | None) -> tuple[str, list[str]]:
    """(where the release was found, what differs from it) for the report."""
    if release_path is None or not release_path.is_file():
        return ("no released copy of this notebook was found (looked beside it in assignments/ and in the course's "
                "release folder): changed or deleted test cells were not checked; pass --release PATH to the "
                "notebook as it was handed out"), []
    if release_path.resolve() == path.resolve():
        history = release_history(release_path)
        if history:
            return (f"this notebook is the release itself ({release_path}): its test and read-only cells were "
                    "compared with every version the instructor released"), compare_with_history(nb, history)
        return (f"this notebook is the release itself ({release_path}) and the course keeps no release history: "
                "leave its test and read-only cells as they are (the grader restores them)"), []
    problems = compare_with_release(nb, nbformat.read(release_path, as_version=4), release_history(release_path))
    return f"compared with the release {release_path}", problems


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
    found = report(executed, path.name)
    found.release_note, found.changes = release_findings(path, nb, release_path)
    if not found.changes and release_path is not None and release_path.is_file():
        found.release_note += ": no test or read-only cell was changed"
    from .sandbox import available

    found.notes.append("Every cell ran in a fresh kernel with the grader's per-cell time limits, "
                       + ("in the grader's sandbox." if available() else
                          "without the grader's sandbox (bubblewrap is not available here)."))
    print(found.text())
    return 0
