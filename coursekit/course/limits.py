"""Limits on a student's kernel, and the accounting that enforces them.

* Time: each cell may use a number of CPU seconds (``course/timeouts.json``: a default and per-cell entries;
  ``load_timeouts``, ``TimeoutTable.cell_seconds``), counted over the kernel's whole process tree, with a
  wall-clock backstop (``wall_backstop_seconds``: 4x plus a minute) for a kernel that sleeps or waits. Load on the
  machine does not change how much CPU time a cell needs, so grades do not change either.
* Memory and disk: the private memory of the kernel's process tree together (``tree_memory_bytes``) and the size
  of its scratch folder (``folder_bytes``).

The per-process limits (address space, processes, file size) are set where the kernel starts
(``coursekit.course.sandbox``); the executor (``coursekit.course.execute``) checks these four times a second.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["load_timeouts", "cell_seconds", "wall_backstop_seconds", "tree_cpu_seconds", "tree_pids",
           "tree_memory_bytes", "folder_bytes"]


def load_timeouts(path: str | os.PathLike | None = None, default_seconds: float | None = None) -> dict:
    """The per-cell CPU-second table ``{"default": seconds, "cells": {grade_id: seconds}}``: the timeouts.json at
    path; without one, default_seconds for every cell (a course without a timeouts.json: its configured nbgrader
    timeout)."""
    if not path:
        if default_seconds is None:
            raise ValueError("load_timeouts needs a timeouts.json or a default number of seconds")
        if not float(default_seconds) > 0:
            raise ValueError(f"the default time limit must be a positive number of seconds, not {default_seconds}")
        return {"default": float(default_seconds), "cells": {}}
    with open(path) as f:
        table = json.load(f)
    if not isinstance(table, dict) or not isinstance(table.get("default"), (int, float)) or table["default"] <= 0:
        raise ValueError(f"{path}: 'default' must be a positive number of seconds")
    if not isinstance(table.get("cells", {}), dict):
        raise ValueError(f"{path}: 'cells' must map grade ids to seconds")
    return table


def cell_seconds(cell, table: dict) -> int:
    """CPU seconds a cell may use (the kernel's whole process tree): its grade_id's entry in the table, else the
    default."""
    grade_id = (cell.get("metadata", {}).get("nbgrader", {}) or {}).get("grade_id")
    return int(table.get("cells", {}).get(grade_id, table["default"]))


def wall_backstop_seconds(cell, table: dict) -> int:
    """Wall-clock seconds after which a cell is given up whatever its CPU use (a kernel that sleeps or waits)."""
    return 4 * cell_seconds(cell, table) + 60


_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root_pid: int) -> float:
    """CPU seconds used by root_pid and all its descendants (live ones, plus the children they have reaped)."""
    total, stack, seen = 0.0, [root_pid], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15]) / _TICKS  # utime stime cutime cstime
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


_PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_pids(root_pid: int) -> list[int]:
    found, stack = [], [root_pid]
    while stack:
        pid = stack.pop()
        if pid in found:
            continue
        found.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return found


def tree_memory_bytes(root_pid: int) -> int:
    """Private resident memory (anonymous pages: what a process allocated, not the libraries it maps) of root_pid
    and all its descendants. RLIMIT_AS bounds each process; this bounds them together, which neither the number
    of processes times their address space (64 x 4 GiB) nor, here, a cgroup does."""
    total = 0
    for pid in tree_pids(root_pid):
        try:
            with open(f"/proc/{pid}/statm") as f:
                fields = f.read().split()
            total += max(0, int(fields[1]) - int(fields[2])) * _PAGE  # resident - file-backed/shared
        except (OSError, ValueError, IndexError):
            continue
    return total


def folder_bytes(path: Path, limit_entries: int = 100_000) -> int:
    total, count = 0, 0
    for folder, dirs, files in os.walk(path):
        for name in files + dirs:
            count += 1
            if count > limit_entries:
                return 1 << 62  # a flood of entries counts as over any quota
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                pass
    return total

