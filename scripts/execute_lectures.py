"""Re-execute lecture notebooks and store them with their outputs (``make lectures``).

    python scripts/execute_lectures.py                      every notebook in lectures/
    python scripts/execute_lectures.py lectures/01_convolution.ipynb ...
    python scripts/execute_lectures.py --check              only report which stored notebooks are stale

Lectures are stored with outputs so a student can read them without running anything, and so nbval (strict mode,
in ``make test``) compares a fresh run with what is stored. To keep a rerun identical, every run happens in the
course kernel with the same thread count (LECTURE_THREADS; the root conftest.py gives nbval's kernels the same
lecture_env() in ``make test``), a fixed hash seed and the notebook's own seeds; the kernelspec, language metadata
and cell ids are stored as JupyterLab writes them, so opening a lecture does not modify it (normalise_metadata).
Each stored notebook records a hash of its cell sources: tests/test_lectures.py fails when a source was edited
without re-executing (a stale notebook).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# one fixed thread count for storing and for checking: results of reductions can depend on it
LECTURE_THREADS = 2
KERNELSPEC = {"name": "coursekit", "display_name": "Python 3 (coursekit)", "language": "python"}
MAX_BYTES = 2 * 1024 * 1024


def source_hash(nb) -> str:
    """sha256 over the cell types and sources: what decides the outputs, nothing that execution writes."""
    digest = hashlib.sha256()
    for cell in nb.cells:
        digest.update(cell.cell_type.encode() + b"\0" + cell.source.encode() + b"\0")
    return digest.hexdigest()


def lecture_env(base=None) -> dict:
    from coursekit.threads import thread_env

    env = dict(os.environ if base is None else base)
    for name, value in thread_env(LECTURE_THREADS).items():
        env[name] = value  # fixed, not setdefault: a stored notebook must not depend on who re-ran it
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONWARNINGS"] = "ignore"
    env.pop("MPLBACKEND", None)  # the inline backend, as in JupyterLab
    return env


def normalise_metadata(nb, stem: str) -> None:
    """Store what JupyterLab writes when the notebook opens in the course kernel, so that opening it changes nothing.

    JupyterLab rewrites `kernelspec` from the kernel it starts and `language_info` from that kernel's kernel_info
    reply (nbclient has already stored the reply's), and gives every cell an id (nbformat 4.5): a notebook missing
    any of them is marked modified on opening and autosave rewrites the checkout. Ids are kept once given, and new
    ones derive from the notebook's name and the cell's position, so a re-run does not renumber them.
    """
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.nbformat, nb.nbformat_minor = 4, 5
    taken = {cell.get("id") for cell in nb.cells}
    for index, cell in enumerate(nb.cells):
        if not cell.get("id"):
            salt = 0
            while (new_id := hashlib.sha256(f"{stem}/{index}/{salt}".encode()).hexdigest()[:8]) in taken:
                salt += 1
            cell["id"] = new_id
            taken.add(new_id)
        cell.metadata.pop("execution", None)  # execution timing would differ on every run and fill git diffs


def cell_seconds(nb) -> list[tuple[int, float, str]]:
    """(code cell number, seconds, first line) for every executed code cell, from the timing nbclient records."""
    from datetime import datetime

    found, number = [], 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        timing = cell.metadata.get("execution", {})
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if start and end:
            seconds = (datetime.fromisoformat(end.replace("Z", "+00:00"))
                       - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
            found.append((number, seconds, (cell.source.strip().splitlines() or [""])[0]))
        number += 1
    return found


def run(nb, folder: Path, timeout: int = 600) -> float:
    """Execute the notebook object nb in place, in the course kernel started in folder with lecture_env(); returns
    the seconds it took. Nothing is written (tests run modified copies of a lecture this way)."""
    from nbclient import NotebookClient

    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    client = NotebookClient(nb, timeout=timeout, kernel_name=KERNELSPEC["name"],
                            resources={"metadata": {"path": str(folder)}})
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(lecture_env(saved))  # the kernel inherits this process's environment
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return time.perf_counter() - start


def execute(path: Path, timeout: int = 600, cell_times: list | None = None) -> float:
    """Run the notebook in the course kernel with lecture_env() and store it with its outputs; returns the seconds.

    cell_times: a list that receives cell_seconds() of the run (timings are not stored in the notebook)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    seconds = run(nb, path.parent, timeout)
    if cell_times is not None:
        cell_times.extend(cell_seconds(nb))
    normalise_metadata(nb, path.stem)
    nb.metadata.setdefault("coursekit", {})["source_sha256"] = source_hash(nb)
    nbformat.write(nb, path)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{path} is {size / 1e6:.1f} MB with outputs; keep lectures under {MAX_BYTES / 1e6:.0f} MB "
                         "(lower the figures' dpi, show fewer images)")
    return seconds


def stale(path: Path) -> str | None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    stored = nb.metadata.get("coursekit", {}).get("source_sha256")
    if stored != source_hash(nb):
        return "its sources changed since it was last executed (run: make lectures)"
    if any(c.cell_type == "code" and c.source.strip() and c.execution_count is None for c in nb.cells):
        return "it has code cells that were never executed (run: make lectures)"
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="report stale notebooks, execute nothing")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "lectures").glob("[0-9]*.ipynb"))
    if args.check:
        problems = [(p, stale(p)) for p in paths]
        for path, why in problems:
            print(f"{'STALE' if why else 'ok':<6} {path.name}" + (f": {why}" if why else ""))
        return 1 if any(why for _, why in problems) else 0
    for path in paths:
        load = os.getloadavg()[0]  # times on a shared 2-core machine mean little without the load beside them
        seconds = execute(path)
        print(f"{path.name:<40} {seconds:6.1f} s   {path.stat().st_size / 1e3:7.0f} kB   load before {load:.1f}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
