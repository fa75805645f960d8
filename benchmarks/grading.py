"""Autograding throughput: sample submissions graded one at a time and on every core, in one run.

Works on a scratch copy of the course, so the repository's gradebook is untouched. Prints seconds per
submission (and per assignment), the machine's load while it ran, and the parallel speed-up, and checks that both
runs give identical grades (nothing lost or corrupted by the merge of the per-worker gradebooks).

    python benchmarks/grading.py [--jobs N] [--students S ...] [--assignments A ...] [--serial-only]

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


def grade(course: Course, jobs: int, pairs) -> tuple[float, dict, dict]:
    for leftover in ("gradebook.db", "autograded"):
        path = course.course / leftover
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    for assignment in course.assignments():
        course.release(assignment)  # a fresh gradebook with the assignments in it
    start = time.perf_counter()
    results = course.autograde(pairs, jobs=jobs, progress=None)
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
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--students", nargs="*", help="only these sample students (default: all)")
    parser.add_argument("--assignments", nargs="*", help="only these assignments (default: all)")
    parser.add_argument("--serial-only", action="store_true", help="skip the parallel run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coursekit-bench-") as tmp:
        course = scratch_course(Path(tmp))
        pairs = [(s, a) for s, a in course.submissions() if (not args.students or s in args.students)
                 and (not args.assignments or a in args.assignments)]
        n = len(pairs)
        load_before = os.getloadavg()[0]
        serial, serial_grades, per_assignment = grade(course, 1, pairs)
        load_serial = os.getloadavg()[0]
        if not args.serial_only:
            parallel, parallel_grades, _ = grade(course, args.jobs, pairs)
    print(f"{n} submissions on {os.cpu_count()} cores; load (1 min) {load_before:.1f} before, "
          f"{load_serial:.1f} after the serial run")
    print(f"  1 worker : {serial:6.1f} s  ({serial / n:.2f} s per submission)")
    for assignment, seconds in sorted(per_assignment.items()):
        print(f"             {assignment:<22} {sum(seconds) / len(seconds):6.2f} s per submission "
              f"({len(seconds)} graded)")
    if args.serial_only:
        return
    print(f"  {args.jobs} workers: {parallel:6.1f} s  ({parallel / n:.2f} s per submission)")
    print(f"  speed-up {serial / parallel:.2f}x; grades identical: {serial_grades == parallel_grades}")
    if serial_grades != parallel_grades:
        raise SystemExit("parallel grading changed a grade")


if __name__ == "__main__":
    main()
