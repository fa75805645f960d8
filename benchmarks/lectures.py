"""How long each lecture takes to run top to bottom, as a student's "Run All" would (the README's course map).

Each lecture runs in the course kernel with the environment `make lectures` uses (LECTURE_THREADS threads, fixed
seeds), on a copy: the stored notebook is not touched. For each it prints one row of a table:

    wall s        seconds from the kernel's start to the last cell's end, as the student waits for them
    CPU s         user + system seconds of the kernel process (and the children it reaped), which move much less
                  with what else runs on the machine than the wall time does
    load before / load after   the 1-minute load average around the run: on a 2-core machine wall times move by 2x
                  with the load, so quote them with it

and then the cells that took more than 10 s of wall time, which should carry a time hint for the student.

    python benchmarks/lectures.py                    every lecture
    python benchmarks/lectures.py lectures/05_unet_segmentation.ipynb
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("execute_lectures", ROOT / "scripts" / "execute_lectures.py")
execute_lectures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute_lectures)

SLOW_CELL_SECONDS = 10.0


@dataclass
class Timing:
    lecture: str
    wall: float
    cpu: float
    load_before: float
    load_after: float
    slow_cells: list = field(default_factory=list)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_lecture(path: Path) -> Timing:
    """Run one lecture on a copy beside the original (so relative paths resolve) and time it."""
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".bench-") as folder:
        copy = Path(folder) / path.name
        shutil.copyfile(path, copy)
        cells: list = []
        load, cpu = os.getloadavg()[0], _children_cpu()
        start = time.perf_counter()
        execute_lectures.execute(copy, cell_times=cells)
        wall = time.perf_counter() - start
        # the kernel has been shut down and reaped by now, so its CPU time is counted among our children's
        return Timing(path.name, wall, _children_cpu() - cpu, load, os.getloadavg()[0],
                      [c for c in cells if c[1] > SLOW_CELL_SECONDS])


def table(timings: list[Timing]) -> str:
    lines = [f"{'lecture':<34} {'wall s':>7} {'CPU s':>7} {'load before':>12} {'load after':>11}"]
    for t in timings:
        lines.append(f"{t.lecture:<34} {t.wall:7.1f} {t.cpu:7.1f} {t.load_before:12.2f} {t.load_after:11.2f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "lectures").glob("[0-9]*.ipynb"))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"usable cores: {cores}; lecture kernels run with {execute_lectures.LECTURE_THREADS} threads", flush=True)
    timings = []
    for path in paths:
        timings.append(time_lecture(path))
        t = timings[-1]
        print(f"  {t.lecture}: {t.wall:.1f} s wall, {t.cpu:.1f} CPU s, load {t.load_before:.2f} -> "
              f"{t.load_after:.2f}", flush=True)
    print()
    print(table(timings))
    slow = [(t.lecture, cell) for t in timings for cell in t.slow_cells]
    if slow:
        print(f"\ncells over {SLOW_CELL_SECONDS:.0f} s of wall time (each should tell the student how long it takes):")
        for lecture, (number, seconds, first_line) in slow:
            print(f"  {lecture} code cell {number}: {seconds:.1f} s   {first_line[:70]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
