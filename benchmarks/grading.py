"""Autograding throughput: the sample submissions graded one at a time, on N local worker threads (`--jobs N`)
and on a local Dask cluster of N worker processes (`--cluster local:N`), side by side in one run.

Works on a scratch copy of the course, so the repository's gradebook is untouched. Prints, for each way, the wall
time, submissions per minute and the speed-up over serial grading, seconds per submission per assignment, the
machine's load while it ran, and checks that every way gives identical grades (nothing lost or corrupted by merging
the per-worker gradebooks). The Dask cluster's start-up is timed apart from its grading.

    python benchmarks/grading.py [--jobs N] [--students S ...] [--assignments A ...] [--serial-only] [--no-cluster]

Timings on a shared machine depend on its load: compare two versions only when run back to back, and say the load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from coursekit.course.pipeline import Course, read_grades

ROOT = Path(__file__).resolve().parents[1]


def scratch_course(base: Path) -> Course:
    course = Course(ROOT).copy(base)
    for assignment in course.assignments():
        course.release(assignment)
    return course


def grade(course: Course, pairs, jobs: int = 1, client=None) -> tuple[float, dict, dict]:
    """Grade pairs from a fresh gradebook: on `jobs` local threads, or on the Dask cluster of client when given."""
    for leftover in ("gradebook.db", "autograded"):
        path = course.course / leftover
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    for assignment in course.assignments():
        course.release(assignment)  # a fresh gradebook with the assignments in it
    start = time.perf_counter()
    if client is None:
        results = course.autograde(pairs, jobs=jobs, progress=None)
    else:
        from coursekit.course.distributed import autograde_distributed

        results = autograde_distributed(course, pairs, client=client, progress=None)
    seconds = time.perf_counter() - start
    if not all(r.ok for r in results):
        raise SystemExit(f"grader errors: {[(r.student, r.assignment, r.detail) for r in results if not r.ok]}")
    grades = {(r["student_id"], r["assignment"]): r["score"] for r in read_grades(course.export())
              if (r["student_id"], r["assignment"]) in set(pairs)}
    per_assignment: dict = {}
    for r in results:
        per_assignment.setdefault(r.assignment, []).append(r.seconds)
    return seconds, grades, per_assignment


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="local worker threads, and worker processes of the Dask cluster (default: CPU count)")
    parser.add_argument("--students", nargs="*", help="only these sample students (default: all)")
    parser.add_argument("--assignments", nargs="*", help="only these assignments (default: all)")
    parser.add_argument("--serial-only", action="store_true", help="skip the parallel and cluster runs")
    parser.add_argument("--no-cluster", action="store_true", help="skip the local Dask cluster run")
    args = parser.parse_args()
    runs = {}  # name -> (seconds, grades)
    startup = None
    loads = [("before", os.getloadavg()[0])]
    with tempfile.TemporaryDirectory(prefix="coursekit-bench-") as tmp:
        course = scratch_course(Path(tmp))
        pairs = [(s, a) for s, a in course.submissions() if (not args.students or s in args.students)
                 and (not args.assignments or a in args.assignments)]
        n = len(pairs)
        seconds, grades, per_assignment = grade(course, pairs, jobs=1)
        runs["serial (1 worker)"] = (seconds, grades)
        loads.append(("after serial", os.getloadavg()[0]))
        if not args.serial_only:
            seconds, grades, _ = grade(course, pairs, jobs=args.jobs)
            runs[f"--jobs {args.jobs} (threads)"] = (seconds, grades)
            loads.append((f"after --jobs {args.jobs}", os.getloadavg()[0]))
        if not (args.serial_only or args.no_cluster):
            from coursekit.course.distributed import close, connect

            start = time.perf_counter()
            client = connect(cluster=f"local:{args.jobs}")
            startup = time.perf_counter() - start
            try:
                seconds, grades, _ = grade(course, pairs, client=client)
            finally:
                close(client)
            runs[f"--cluster local:{args.jobs} (Dask)"] = (seconds, grades)
            loads.append(("after the cluster", os.getloadavg()[0]))
    print(f"{n} submissions on {os.cpu_count()} cores; load (1 min) "
          + ", ".join(f"{value:.1f} {when}" for when, value in loads))
    serial = runs["serial (1 worker)"][0]
    print(f"  {'way':<30} {'wall s':>8} {'subm/min':>9} {'vs serial':>10}")
    for name, (seconds, _) in runs.items():
        print(f"  {name:<30} {seconds:8.1f} {60 * n / seconds:9.2f} {serial / seconds:9.2f}x")
    if startup is not None:
        print(f"  (the Dask cluster took {startup:.1f} s to start, not counted above)")
    print("  serial, seconds per submission:")
    for assignment, seconds in sorted(per_assignment.items()):
        print(f"    {assignment:<22} {sum(seconds) / len(seconds):6.2f} s ({len(seconds)} graded)")
    reference = runs["serial (1 worker)"][1]
    differing = [name for name, (_, grades) in runs.items() if grades != reference]
    print(f"  grades identical in every way: {not differing}")
    if differing:
        raise SystemExit(f"grading changed a grade: {differing}")


if __name__ == "__main__":
    main()
