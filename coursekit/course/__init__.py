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

__all__ = ["run_course"]


def run_course(root=".", jobs: int | None = None, regenerate_samples: bool = True) -> int:
    """`make course`: release every assignment, autograde every sample submission, export and print the grades.

    Returns 0 when every submission was graded and every score matches course/expected_scores.json.
    """
    import json

    from .pipeline import Course, NbgraderError, grade_table, read_grades

    course = Course(root)
    jobs = jobs or os.cpu_count() or 1
    started = time.perf_counter()
    assignments = course.assignments()
    print(f"== release: {len(assignments)} assignment(s) from solutions/ into assignments/")
    try:
        for assignment in assignments:
            course.release(assignment)
            print(f"   released {assignment}")
    except NbgraderError as exc:
        print(f"   FAILED: {exc}")
        return 1
    if regenerate_samples and (course.course / "make_submissions.py").is_file():
        import runpy

        written = runpy.run_path(str(course.course / "make_submissions.py"))["write"]()
        print(f"== samples: {len(written)} sample submission(s) written to course/submitted/")
    pairs = course.submissions()
    print(f"== autograde: {len(pairs)} submission(s) on {min(jobs, max(1, len(pairs)))} worker(s)")
    from .sandbox import SandboxUnavailable, available

    grading_start = time.perf_counter()
    try:
        results = course.autograde(pairs, jobs=jobs)
    except (SandboxUnavailable, NbgraderError) as exc:
        print(f"   refusing to autograde: {exc}")
        return 1
    print(f"   kernels ran {'in the bubblewrap sandbox' if available() else 'WITHOUT a sandbox (opted out)'}")
    grading_seconds = time.perf_counter() - grading_start
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"   grader error for {r.student}/{r.assignment}: {r.detail.splitlines()[0] if r.detail else ''}")
    try:
        csv_path = course.export()
    except NbgraderError as exc:
        print(f"   export FAILED: {exc}")
        return 1
    rows = read_grades(csv_path)
    print(f"== grades ({csv_path.relative_to(course.root)}):")
    print(grade_table(rows, results, submitted=set(pairs)))
    per_submission = sum(r.seconds for r in results) / max(1, len(results))
    print(f"== {len(results)} submissions graded in {grading_seconds:.1f} s wall time ({per_submission:.1f} s each "
          f"on average, {min(jobs, max(1, len(pairs)))} at a time); whole run {time.perf_counter() - started:.1f} s")
    status = 1 if failed else 0
    expected_path = course.course / "expected_scores.json"
    if expected_path.is_file():
        expected = json.loads(expected_path.read_text())
        hostile = course.course / "hostile_submissions.py"
        if hostile.is_file():  # the grading infrastructure's own attacks keep their expectations beside them
            import runpy

            for assignment, scores in runpy.run_path(str(hostile)).get("EXPECTED", {}).items():
                expected.setdefault(assignment, {}).update(scores)
        got = {(r["student_id"], r["assignment"]): float(r["score"]) for r in rows}
        wrong = [f"{s}/{a}: expected {v}, got {got.get((s, a))}" for a, scores in expected.items()
                 for s, v in scores.items() if got.get((s, a)) != float(v)]
        if wrong:
            status = 1
            print("== scores that differ from course/expected_scores.json:\n   " + "\n   ".join(wrong))
        else:
            print("== every score matches course/expected_scores.json")
    return status
