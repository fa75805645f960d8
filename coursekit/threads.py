"""Thread settings that keep numerical work fast on a busy, shared machine.

PyTorch (through GNU OpenMP) and OpenBLAS keep their worker threads spinning for a while after each parallel
region, waiting for the next one. On an idle machine that saves a few microseconds; on a machine whose cores are
all busy (a JupyterHub server with a class on it, an autograder beside other jobs) the spinning threads take the
cores from the work itself, and a lecture that runs in 32 s idle took 373 s beside two busy processes, where a fair
share would be about 64 s. Yielding waits (``OMP_WAIT_POLICY=PASSIVE``) brought the same run to 73 s.

Both runtimes read these settings once, when they are loaded, so they must be in the environment before torch (or
numpy's OpenBLAS) is imported:

* the course's Jupyter kernel (``coursekit kernel install``) starts Python with them set;
* the autograder's sandboxed kernels, ``coursekit check`` and ``make test``'s notebook runs pass them on;
* ``import coursekit`` sets any that are not set yet, as long as torch is not loaded yet, and records in
  :data:`STATE` whether it was in time (``coursekit doctor`` reports it). Set ``COURSEKIT_THREAD_POLICY=off`` to
  leave the environment alone.

Thread counts follow the cores this process may really use (its CPU affinity and its cgroup's CPU quota), not the
machine's total: a container limited to 2 CPUs on a 64-core host should not start 64 threads.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

__all__ = ["usable_cores", "thread_env", "apply", "STATE", "THREAD_COUNT_VARIABLES"]

# every variable that sets a thread count in the runtimes numpy and torch may load
THREAD_COUNT_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                          "NUMEXPR_NUM_THREADS")
# waiting threads yield instead of spinning: GNU/LLVM OpenMP, Intel OpenMP, OpenBLAS (2**4 cycles before sleeping)
WAIT_VARIABLES = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0", "OPENBLAS_THREAD_TIMEOUT": "4"}

STATE = {"applied": False, "too_late": False, "detail": "coursekit.threads.apply() has not run"}


def _cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by the cgroup's quota (v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``), or None if unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def usable_cores(cgroup_root: str | os.PathLike | None = None) -> int:
    """Cores this process may use: its CPU affinity, capped by its cgroup's CPU quota (rounded up), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        cores = os.cpu_count() or 1
    limit = _cgroup_cpu_limit(Path(cgroup_root) if cgroup_root else Path("/sys/fs/cgroup"))
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit)))
    return max(1, cores)


def thread_env(threads: int | None = None) -> dict[str, str]:
    """The environment variables for yielding waits and ``threads`` threads per runtime (default: usable cores).

    threads: e.g. cores // jobs when several kernels share the machine.
    """
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    count = str(threads or usable_cores())
    return {**WAIT_VARIABLES, **{name: count for name in THREAD_COUNT_VARIABLES}}


def apply(threads: int | None = None, environ=None) -> dict:
    """Set every variable of :func:`thread_env` that is not already set (the user's own choices win).

    Returns :data:`STATE`. When torch is already imported its OpenMP runtime has read its settings, so nothing
    this sets reaches it: STATE says so (``too_late``) instead of pretending.
    """
    environ = os.environ if environ is None else environ
    if str(environ.get("COURSEKIT_THREAD_POLICY", "")).lower() in ("0", "off", "false", "no"):
        STATE.update(applied=False, too_late=False, detail="left alone (COURSEKIT_THREAD_POLICY=off)")
        return STATE
    for name, value in thread_env(threads).items():
        environ.setdefault(name, value)
    if "torch" in sys.modules:
        STATE.update(applied=True, too_late=True,
                     detail="torch was imported before coursekit: its threads keep the settings they started with "
                            "(import coursekit first, or use the 'coursekit' Jupyter kernel)")
    else:
        STATE.update(applied=True, too_late=False,
                     detail=f"OMP_WAIT_POLICY={environ['OMP_WAIT_POLICY']}, "
                            f"OMP_NUM_THREADS={environ['OMP_NUM_THREADS']} (usable cores: {usable_cores()})")
    return STATE
