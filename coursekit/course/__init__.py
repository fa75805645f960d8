"""The grader: the trusted side of the grading wall (the kernel side is ``coursekit.grading``).

Everything here runs in the grader's process (nbgrader's, and the ``coursekit`` commands), never in a student's
kernel, whose copy of the package does not contain this folder. ``README.md`` beside this file maps each property
of the wall to its module and follows one submission through them. ``run_course`` is what ``make course`` runs:
release every assignment, regenerate the sample submissions, autograde them in parallel, export
``course/grades.csv`` and print the grade table.
"""

from __future__ import annotations

import os
import time

__all__ = ["run_course", "representative", "expected_scores"]


SAMPLES = "samples.json"  # in the course directory: which samples `make course` grades by default


def representative(pairs, course_dir) -> list:
    """The (student, assignment) pairs `make course` grades by default: course/samples.json's "representative"
    names for the assignments it lists, every submission of the others."""
    import json
    from pathlib import Path

    path = Path(course_dir) / SAMPLES
    chosen = json.loads(path.read_text()).get("representative", {}) if path.is_file() else {}
    return [(s, a) for s, a in pairs if a not in chosen or s in chosen[a]]


def run_course(root=".", jobs: int | None = None, regenerate_samples: bool = True, all_samples: bool = False,
               progress=print) -> int:
    """`make course`: release every assignment, autograde the sample submissions, export and print the grades.

    all_samples: every sample in the submitted folder (default: the representative set of course/samples.json).
    Returns 0 when every submission was graded and every score matches course/expected_scores.json.
    """
    from .pipeline import Course, NbgraderError, grade_table, read_grades

    say = progress or (lambda *_: None)
    course = Course(root)
    jobs = jobs or os.cpu_count() or 1
    started = time.perf_counter()
    assignments = course.assignments()
    say(f"== release: {len(assignments)} assignment(s) from solutions/ into assignments/")
    try:
        for assignment in assignments:
            course.release(assignment)
            say(f"   released {assignment}")
    except NbgraderError as exc:
        say(f"   FAILED: {exc}")
        return 1
    if regenerate_samples and (course.course / "make_submissions.py").is_file():
        import runpy

        written = runpy.run_path(str(course.course / "make_submissions.py"))["write"]()
        say(f"== samples: {len(written)} sample submission(s) written to course/submitted/")
    every = course.submissions()
    pairs = every if all_samples else representative(every, course.course)
    which = ("every sample" if all_samples or len(pairs) == len(every) else
             f"the representative set of {SAMPLES}; `make course ALL_SAMPLES=1` grades all {len(every)}")
    say(f"== autograde: {len(pairs)} submission(s) ({which}) on {min(jobs, max(1, len(pairs)))} worker(s)")
    from .sandbox import SandboxUnavailable, available

    grading_start = time.perf_counter()
    try:
        results = course.autograde(pairs, jobs=jobs, progress=progress)
    except (SandboxUnavailable, NbgraderError) as exc:
        say(f"   refusing to autograde: {exc}")
        return 1
    say(f"   kernels ran {'in the bubblewrap sandbox' if available() else 'WITHOUT a sandbox (opted out)'}")
    grading_seconds = time.perf_counter() - grading_start
    failed = [r for r in results if not r.ok]
    for r in failed:
        say(f"   grader error for {r.student}/{r.assignment}: {r.detail.splitlines()[0] if r.detail else ''}")
    try:
        csv_path = course.export()
    except NbgraderError as exc:
        say(f"   export FAILED: {exc}")
        return 1
    rows = read_grades(csv_path)
    say(f"== grades ({csv_path.relative_to(course.root)}):")
    say(grade_table(rows, results, submitted=set(pairs)))
    per_submission = sum(r.seconds for r in results) / max(1, len(results))
    say(f"== {len(results)} submissions graded in {grading_seconds:.1f} s wall time ({per_submission:.1f} s each "
        f"on average, {min(jobs, max(1, len(pairs)))} at a time); whole run {time.perf_counter() - started:.1f} s")
    status = 1 if failed else 0
    expected = expected_scores(course.course)
    if expected:
        got = {(r["student_id"], r["assignment"]): float(r["score"]) for r in rows}
        graded = set(pairs)
        wrong = [f"{s}/{a}: expected {v}, got {got.get((s, a))}" for a, scores in expected.items()
                 for s, v in scores.items() if (s, a) in graded and got.get((s, a)) != float(v)]
        if wrong:
            status = 1
            say("== scores that differ from course/expected_scores.json:\n   " + "\n   ".join(wrong))
        else:
            say(f"== every score matches course/expected_scores.json ({len(graded)} checked)")
    return status


def expected_scores(course_dir) -> dict:
    """{assignment: {student: score}}: course/expected_scores.json plus the hostile samples' own table
    (course/hostile_submissions.py's EXPECTED)."""
    import json
    import runpy
    from pathlib import Path

    path = Path(course_dir) / "expected_scores.json"
    expected = json.loads(path.read_text()) if path.is_file() else {}
    hostile = Path(course_dir) / "hostile_submissions.py"
    if hostile.is_file():
        for assignment, scores in runpy.run_path(str(hostile)).get("EXPECTED", {}).items():
            expected.setdefault(assignment, {}).update(scores)
    return expected
