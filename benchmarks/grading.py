"""Autograding throughput: the sample submissions graded one at a time and on every core, in one run.

Works on a scratch copy of the course, so the repository's gradebook is untouched. Prints seconds per
submission and the parallel speed-up, and checks that both runs give identical grades (nothing lost or
corrupted by the merge of the per-worker gradebooks).

    python benchmarks/grading.py [--jobs N]
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


def grade(course: Course, jobs: int) -> tuple[float, dict]:
    for leftover in ("gradebook.db", "autograded"):
        path = course.course / leftover
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    for assignment in course.assignments():
        course.release(assignment)  # a fresh gradebook with the assignments in it
    start = time.perf_counter()
    results = course.autograde(course.submissions(), jobs=jobs, progress=None)
    seconds = time.perf_counter() - start
    if not all(r.ok for r in results):
        raise SystemExit(f"grader errors: {[(r.student, r.assignment) for r in results if not r.ok]}")
    grades = {(r["student_id"], r["assignment"]): r["score"] for r in read_grades(course.export())}
    return seconds, grades


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coursekit-bench-") as tmp:
        course = scratch_course(Path(tmp))
        n = len(course.submissions())
        serial, serial_grades = grade(course, 1)
        parallel, parallel_grades = grade(course, args.jobs)
    print(f"{n} submissions (hostile ones included) on {os.cpu_count()} cores")
    print(f"  1 worker : {serial:6.1f} s  ({serial / n:.2f} s per submission)")
    print(f"  {args.jobs} workers: {parallel:6.1f} s  ({parallel / n:.2f} s per submission)")
    print(f"  speed-up {serial / parallel:.2f}x; grades identical: {serial_grades == parallel_grades}")
    if serial_grades != parallel_grades:
        raise SystemExit("parallel grading changed a grade")


if __name__ == "__main__":
    main()
