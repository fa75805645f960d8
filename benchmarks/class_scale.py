"""Grading at class scale: N generated submissions of Assignment 1 graded on local worker threads (`coursekit
autograde --jobs J`) and on local Dask clusters (`--cluster local:J`), side by side in one run.

The class is made from the A1 sample submissions (course/make_submissions.py: an honest mix of the reference,
typical mistakes, a blank, an edited test), each copy varied slightly (a comment with its number in every answer
cell), so every submission is a distinct notebook whose expected score is its sample's
(course/expected_scores.json); the run checks every grade against it, so every way gives the same grades. Works on
a scratch copy of the course.

Prints, per way, the wall time, submissions per minute, the speed-up over one thread, the ratio of 2 workers to 1
(threads and Dask), and the CPU seconds each submission cost: all of it (nbgrader, kernels, the client; getrusage
of this process and its reaped children), the client's share (this process: what more workers do not spread) and
the kernels' share (the executor's run records). CPU seconds move much less with the machine's load than wall
time: an extrapolation to another machine starts there.

    python benchmarks/class_scale.py                 # N=4 on every way: a quick look (make bench, a few minutes)
    python benchmarks/class_scale.py --n 50          # the README's numbers (4 x 50 gradings: about an hour on 2
                                                     # idle cores, longer when they are shared)
    python benchmarks/class_scale.py --n 200 --ways threads:2 dask:2     # the larger class, the two parallel ways
    python benchmarks/class_scale.py --n 50 --quiet  # without the grader's line per submission

Timings on a shared machine depend on its load: compare ways only within one run, and say the load (printed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import runpy
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from coursekit.course.pipeline import Course, read_grades

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "a1_conv_arithmetic"
MIX = ["reference", "off_by_one", "forgot_bias", "loops_only", "raises", "written_differently", "blank",
       "edits_test"]


def make_class(course: Course, n: int) -> dict:
    """Write n varied copies of the sample mix into the scratch course's submitted folder (nothing else left
    there); returns {student: expected score}."""
    expected_all = json.loads((course.course / "expected_scores.json").read_text())[ASSIGNMENT]
    # the samples as `make course` writes them, made afresh from this release and the solutions
    made = runpy.run_path(str(course.course / "make_submissions.py"))["samples"]()
    samples = {name: {f"{notebook}.ipynb": nb for (assignment, notebook), nb in made[name].items()
                      if assignment == ASSIGNMENT} for name in MIX}
    shutil.rmtree(course.submitted_dir)
    expected = {}
    for k in range(n):
        sample = MIX[k % len(MIX)]
        student = f"student{k:03d}"
        folder = course.submitted_dir / student / ASSIGNMENT
        folder.mkdir(parents=True)
        for name, nb in samples[sample].items():
            copy = nbformat.from_dict(json.loads(json.dumps(nb)))
            for cell in copy.cells:
                meta = cell.metadata.get("nbgrader", {})
                if meta.get("solution") and cell.cell_type == "code":
                    cell.source = f"# submission {k} ({sample})\n" + cell.source
            nbformat.write(copy, folder / name)
        expected[student] = float(expected_all[sample])
    return expected


@dataclass
class Run:
    """One way's grading of the class: wall seconds (the Dask cluster's start-up apart), CPU seconds of everything,
    of this process alone (the client: staging, merging gradebooks, Dask's bookkeeping; what does not spread over
    workers) and of the kernels alone, the grades {student: score}."""

    way: str
    seconds: float
    cpu_seconds: float
    client_cpu_seconds: float
    kernel_cpu_seconds: float
    grades: dict
    startup: float | None = None


def _cpu_now() -> tuple[float, float]:
    """(CPU seconds of this process and of every child process reaped so far (nbgrader, its kernels, Dask's
    workers once their cluster is closed), of this process alone)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    mine = own.ru_utime + own.ru_stime
    return mine + children.ru_utime + children.ru_stime, mine


def _kernel_cpu(course: Course, pairs) -> float:
    """The kernels' CPU seconds, summed over the executor's run records of these submissions."""
    total = 0.0
    for student, assignment in pairs:
        path = course.course / "run_records" / student / f"{assignment}.json"
        total += float(json.loads(path.read_text()).get("cpu_seconds", 0.0)) if path.is_file() else 0.0
    return total


def grade(course: Course, pairs, way: str, progress=print) -> Run:
    """Grade pairs from a fresh gradebook one way ("threads:J" or "dask:J")."""
    for leftover in ("gradebook.db", "autograded", "run_records"):
        path = course.course / leftover
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    course.release(ASSIGNMENT, progress=None)
    kind, jobs = way.split(":")
    if kind not in ("threads", "dask") or not jobs.isdigit() or int(jobs) < 1:
        raise SystemExit(f"--ways {way}: threads:J or dask:J, J a positive number")
    startup = None
    cpu_start = _cpu_now()
    start = time.perf_counter()
    if kind == "threads":
        results = course.autograde(pairs, jobs=int(jobs), progress=progress)
        seconds = time.perf_counter() - start
    else:
        from coursekit.course.distributed import autograde_distributed, close, connect

        client = connect(cluster=f"local:{jobs}")
        startup = time.perf_counter() - start
        start = time.perf_counter()
        try:
            results = autograde_distributed(course, pairs, client=client, progress=progress)
            seconds = time.perf_counter() - start
        finally:
            close(client)  # the workers are reaped here, so their CPU time counts
    cpu, client_cpu = (now - then for now, then in zip(_cpu_now(), cpu_start))
    failed = [(r.student, r.detail.splitlines()[-1:]) for r in results if not r.ok]
    if failed:
        raise SystemExit(f"{way}: grader errors: {failed}")
    grades = {r["student_id"]: float(r["score"]) for r in read_grades(course.export())
              if (r["student_id"], ASSIGNMENT) in set(pairs)}
    return Run(way, seconds, cpu, client_cpu, _kernel_cpu(course, pairs), grades, startup)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4, help="generated submissions (default 4; the README uses 50)")
    parser.add_argument("--ways", nargs="*", default=["threads:1", "threads:2", "dask:1", "dask:2"],
                        help="threads:J (coursekit autograde --jobs J) and dask:J (--cluster local:J)")
    parser.add_argument("--quiet", action="store_true", help="no line per graded submission")
    args = parser.parse_args()
    if args.n < 1:
        raise SystemExit(f"--n {args.n}: at least one submission")
    loads = [("before", os.getloadavg()[0])]
    runs = []
    with tempfile.TemporaryDirectory(prefix="coursekit-class-") as tmp:
        course = Course(ROOT).copy(Path(tmp) / "course")
        expected = make_class(course, args.n)
        pairs = [(s, ASSIGNMENT) for s in sorted(expected)]
        for k, way in enumerate(args.ways, 1):
            print(f"== [{k}/{len(args.ways)}] {way}: {args.n} submissions of {ASSIGNMENT}", flush=True)
            run = grade(course, pairs, way, progress=None if args.quiet else print)
            wrong = {s: (run.grades.get(s), v) for s, v in expected.items() if run.grades.get(s) != v}
            if wrong:
                raise SystemExit(f"{way}: grades differ from the samples' expected scores: {wrong}")
            runs.append(run)
            loads.append((f"after {way}", os.getloadavg()[0]))
            print(f"   {way}: {run.seconds:.1f} s, {60 * args.n / run.seconds:.2f} submissions/min"
                  + (f" (cluster start-up {run.startup:.1f} s, not counted)" if run.startup is not None else ""),
                  flush=True)
    print(f"\n{args.n} submissions of {ASSIGNMENT} on {os.cpu_count()} cores; load (1 min) "
          + ", ".join(f"{value:.1f} {when}" for when, value in loads))
    by_way = {r.way: r for r in runs}
    base = by_way.get("threads:1", runs[0])
    print(f"  {'way':<10} {'wall s':>8} {'subm/min':>9} {'vs ' + base.way:>13}   CPU s per submission: "
          f"{'all':>5} {'client':>7} {'kernels':>8}")
    for r in runs:
        print(f"  {r.way:<10} {r.seconds:8.1f} {60 * args.n / r.seconds:9.2f} {base.seconds / r.seconds:12.2f}x "
              f"{'':23}{r.cpu_seconds / args.n:5.1f} {r.client_cpu_seconds / args.n:7.2f} "
              f"{r.kernel_cpu_seconds / args.n:8.1f}")
    for kind in ("threads", "dask"):
        one, two = by_way.get(f"{kind}:1"), by_way.get(f"{kind}:2")
        if one and two:
            print(f"  scaling {kind}: 2 workers / 1 worker = {one.seconds / two.seconds:.2f}x")
    print("  every grade equals its sample's expected score, in every way")


if __name__ == "__main__":
    main()
