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



# ------------------------------------------------------------------------------------------ CPU accounting
class CgroupAccount:
    """A control group of the kernel's own: every process the kernel ever starts is in it (a process cannot leave
    a cgroup without write access to the cgroup filesystem, which the sandbox does not mount) and the kernel counts
    the CPU time of all of them, those that exited and were never waited for included. This is what the CPU limit
    reads; polling /proc (``tree_cpu_seconds``) misses a child that lives between two polls while its parent
    ignores SIGCHLD (measured: 12.6 CPU seconds of work inside a 10 CPU-second limit).

    cgroup v2 (``cpu.stat``'s usage_usec) where a cgroup2 hierarchy is mounted and writable, else cgroup v1's
    cpuacct controller (``cpuacct.usage``). ``create`` returns None where neither can be made (no permission):
    the executor then falls back to /proc and says so.
    """

    def __init__(self, path: Path, version: int):
        self.path, self.version = Path(path), version

    @property
    def procs_file(self) -> Path:
        return self.path / "cgroup.procs"

    @classmethod
    def create(cls, name: str) -> CgroupAccount | None:
        for version, parent in _cgroup_parents():
            path = parent / name
            try:
                path.mkdir(mode=0o755)
                probe = cls(path, version)
                probe.cpu_seconds()
                return probe
            except OSError:
                try:
                    path.rmdir()
                except OSError:
                    pass
                continue
        return None

    def add(self, pid: int) -> None:
        with open(self.procs_file, "w") as f:
            f.write(f"{pid}\n")

    def cpu_seconds(self) -> float:
        if self.version == 2:
            for line in (self.path / "cpu.stat").read_text().splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
            raise OSError(f"{self.path}/cpu.stat has no usage_usec")
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in self.procs_file.read_text().split()]
        except (OSError, ValueError):
            return []

    def close(self, attempts: int = 50) -> None:
        """Kill whatever is still in the group (a daemon the kernel left behind), then remove it."""
        import signal
        import time

        for _ in range(attempts):
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)


def _cgroup_parents() -> list[tuple[int, Path]]:
    """Where this process may create a cgroup: below its own cgroup in each hierarchy that can count CPU time (v2,
    then v1's cpuacct), as /proc/self/mountinfo and /proc/self/cgroup say."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
        memberships = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    v2_mount, v1_mount = None, None
    for line in mounts:
        left, _, right = line.partition(" - ")
        fields, kind = left.split(), right.split()
        if len(fields) < 5 or not kind:
            continue
        if kind[0] == "cgroup2" and v2_mount is None:
            v2_mount = (Path(fields[4]), fields[3])
        elif kind[0] == "cgroup" and len(kind) >= 3 and "cpuacct" in kind[2].split(",") and v1_mount is None:
            v1_mount = (Path(fields[4]), fields[3])
    own = {}
    for line in memberships:
        number, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        own["v2" if number == "0" and controllers == "" else controllers] = path
    parents = []
    for version, mount, key in ((2, v2_mount, "v2"), (1, v1_mount, None)):
        if mount is None:
            continue
        folder, root = mount
        if key is None:
            key = next((k for k in own if "cpuacct" in k.split(",")), None)
        path = own.get(key) if key else None
        if path is None:
            continue
        relative = os.path.relpath(path, root) if path.startswith(root) else path.lstrip("/")
        parents.append((version, Path(os.path.normpath(folder / relative))))
    return parents
