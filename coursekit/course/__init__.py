"""Course tooling: what `make course` runs.

Today it executes every lecture notebook top to bottom (the same check nbval does in CI) and reports which
nbgrader source assignments exist in ``solutions/``. Release, autograding and grade export run over those
assignments once they are added.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

__all__ = ["run_course", "execute_notebook"]


def execute_notebook(path: Path, timeout: int = 300) -> float:
    """Run a notebook in a fresh kernel from its own folder; return the seconds it took. Raises on error."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="coursekit-kernel-") as socket_dir:
        start = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       kernel_manager_class=_local_kernel_manager(socket_dir),
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        return time.perf_counter() - start


def _local_kernel_manager(socket_dir: str):
    """A KernelManager that talks to its kernel over Unix sockets in socket_dir where the OS has them, so nothing
    listens on the network (and the kernel does not warn about unencrypted TCP)."""
    from jupyter_client.manager import AsyncKernelManager

    if os.name != "posix":
        return AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            # an absolute socket path: the kernel runs in the notebook's folder, not ours
            kwargs.setdefault("ip", os.path.join(socket_dir, "kernel"))
            super().__init__(**kwargs)

    return IPCKernelManager


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
