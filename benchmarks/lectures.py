"""How long each lecture takes to run top to bottom, as a student's "Run All" would (the README's course map).

Each lecture runs in the course kernel with the environment `make lectures` uses, on a copy (the stored notebook is
not touched). The load average before each run is printed beside it: on a 2-core machine the times move by 2x
with what else is running, so quote them with the load.

    python benchmarks/lectures.py                    every lecture
    python benchmarks/lectures.py lectures/05_unet_segmentation.ipynb
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("execute_lectures", ROOT / "scripts" / "execute_lectures.py")
execute_lectures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute_lectures)


def time_lecture(path: Path) -> tuple[float, float]:
    """(seconds, load average before the run) for one lecture, executed on a copy beside the original."""
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".bench-") as folder:
        copy = Path(folder) / path.name
        shutil.copyfile(path, copy)
        load = os.getloadavg()[0]
        start = time.perf_counter()
        execute_lectures.execute(copy)
        return time.perf_counter() - start, load


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "lectures").glob("[0-9]*.ipynb"))
    print(f"usable cores: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}")
    print(f"{'lecture':<36} {'seconds':>8} {'load before':>12}")
    for path in paths:
        seconds, load = time_lecture(path)
        print(f"{path.name:<36} {seconds:8.1f} {load:12.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
