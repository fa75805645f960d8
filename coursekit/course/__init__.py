"""Course tooling: what `make course` runs.

Today it executes every lecture notebook top to bottom (the same check nbval does in CI) and reports which
nbgrader source assignments exist in ``solutions/``. Release, autograding and grade export run over those
assignments once they are added.
"""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["run_course", "execute_notebook"]


def execute_notebook(path: Path, timeout: int = 300) -> float:
    """Run a notebook in a fresh kernel from its own folder; return the seconds it took. Raises on error."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def run_course(root=".", timeout: int = 300) -> int:
    root = Path(root).resolve()
    lectures = sorted((root / "lectures").glob("*.ipynb"))
    print(f"== lectures: executing {len(lectures)} notebook(s) from {root / 'lectures'}")
    failures = 0
    for nb in lectures:
        try:
            seconds = execute_notebook(nb, timeout)
            print(f"   ok    {nb.name:<48} {seconds:6.1f} s")
        except Exception as exc:  # report every lecture, then fail
            failures += 1
            print(f"   FAIL  {nb.name:<48} {type(exc).__name__}: {str(exc).splitlines()[-1] if str(exc) else ''}")
    sources = sorted(p.name for p in (root / "solutions").glob("*") if p.is_dir())
    print(f"== assignments: {len(sources)} source assignment(s) in solutions/: {', '.join(sources) or 'none yet'}")
    if not sources:
        print("   nothing to release or autograde yet; the nbgrader pipeline runs here once assignments exist")
    print(f"== done: {len(lectures) - failures}/{len(lectures)} lectures ran")
    return 1 if failures else 0
