"""Run each student kernel inside a bubblewrap sandbox built from an allow-list, with resource limits.

The kernel manager (``coursekit.course.kernel_manager``) launches ``python -m coursekit.course.sandbox run --spec
JSON -- <kernel command>``
instead of the kernel itself. That wrapper (still the grader's code, outside the sandbox) replaces itself with
``bwrap``, which starts the kernel in a new, empty root where only these exist:

* read-only: the system's /usr (and the /bin, /lib ... links into it), a handful of /etc files the C library and
  fonts need, the Python installation and the virtual environment, its site-packages filtered (no torch for a
  NumPy-only assignment, none of the packages its ``KERNEL_EXCLUDES`` names: ``coursekit.course.kernel_packages``),
  and, where coursekit lives, the assignment's *view* of the package (``coursekit.course.package_view``: the graded
  reference code replaced by stubs, no grader-side tooling, no original bytecode). The course folder, solutions,
  gradebook, other submissions, home folders: not there at all;
* read-write: the kernel's private scratch folder (a copy of the notebook, its hidden-test cases, its answers),
  the folder of its IPC sockets, and a size-bounded tmpfs at /tmp;
* its own /dev and /proc, no network (an empty network namespace), its own PID namespace (every process it starts
  dies with it), an empty environment plus an allow-list (PATH, locale, thread counts, matplotlib's config dir,
  the scratch folder's path, nbgrader's NBGRADER_EXECUTION);
* an unprivileged user: as root, the kernel drops to a uid of its own (60000 + a number unique to the sandbox) just
  before it starts, so per-user limits (the number of processes above all) hold; otherwise uid 65534 in a user
  namespace; limits on address space, processes, file size, no core dumps.

Everything the wrapper needs arrives in the spec on its command line (``SandboxSpec``): it reads no environment.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from .kernel_packages import TORCH_ENTRIES, allowed_entries, excluded_entries, site_packages_folders

__all__ = ["Limits", "SandboxSpec", "available", "bwrap_command", "SandboxUnavailable", "kernel_env", "make_scratch"]

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = Path(__file__).resolve().parents[1]
# read by the C library, locale and font machinery; nothing of the instructor's
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "mime.types", "nsswitch.conf",
             "passwd", "group", "host.conf", "ssl/certs")
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")


class SandboxUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 4 << 30      # address space of the kernel and anything it starts
    processes: int = 64              # processes and threads the sandbox may hold at once
    file_bytes: int = 64 << 20       # largest file the kernel may write
    tmp_bytes: int = 256 << 20       # size of the kernel's /tmp


@dataclass
class SandboxSpec:
    """What one kernel's sandbox is made of (the wrapper receives it as JSON on its command line)."""

    scratch: str                               # the kernel's private working folder (read-write)
    package_view: str | None = None            # mounted where coursekit lives; None: the package as installed
    torch: bool = True                         # torch importable in the kernel
    excludes: list = field(default_factory=list)  # further top-level packages left out (KERNEL_EXCLUDES)
    packages: list | None = None               # the allow-list (KERNEL_PACKAGES): only these and what they need
    threads: int | None = None                 # threads for numerical libraries (None: the cores we may use)
    cgroup_procs: str | None = None            # the cgroup.procs file of the kernel's own cgroup (CPU accounting)
    limits: dict = field(default_factory=lambda: asdict(Limits()))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SandboxSpec:
        return cls(**json.loads(text))


@lru_cache(maxsize=1)
def available() -> bool:
    """bwrap is installed and can create the namespaces we need on this machine."""
    if shutil.which("bwrap") is None:
        return False
    try:
        done = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--unshare-all", "--unshare-user", "--uid", "65534",
                               "--die-with-parent", "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def make_scratch(prefix: str = "coursekit-scratch-") -> Path:
    """A fresh private folder for one kernel, outside the course (mode 0700 until the sandbox hands it over)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def _connection_file(argv: list[str]) -> Path | None:
    for i, arg in enumerate(argv):
        if arg == "-f" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--f="):
            return Path(arg.split("=", 1)[1])
    return None


def _sandbox_uid() -> int:
    return 60000 + os.getpid() % 20000


def kernel_env(spec: SandboxSpec) -> dict[str, str]:
    """The kernel's whole environment: an allow-list, nothing inherited from the grader."""
    from ..grading.wire import GRADING_DIR_ENV

    try:
        from ..threads import thread_env
    except ImportError:  # pragma: no cover - coursekit.threads is part of the package
        thread_env = None
    python_bin = str(Path(sys.executable).parent)
    env = {"PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "HOME": "/tmp", "TMPDIR": "/tmp", "MPLCONFIGDIR": "/tmp/matplotlib", "MPLBACKEND": "agg",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
           GRADING_DIR_ENV: str(Path(spec.scratch) / ".grading")}
    # nbgrader documents it for skipping expensive cells while grading ("autograde", "validate"): not a secret
    if os.environ.get("NBGRADER_EXECUTION") in ("autograde", "validate"):
        env["NBGRADER_EXECUTION"] = os.environ["NBGRADER_EXECUTION"]
    if thread_env is not None:
        env.update(thread_env(spec.threads))
    elif spec.threads:
        env.update({k: str(spec.threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    return env


class _Mounts:
    """bwrap arguments for an empty root plus an allow-list, creating world-readable folders on the way."""

    def __init__(self):
        self.args: list[str] = []
        self.made: set[Path] = {Path("/")}

    def folders_to(self, path: Path) -> None:
        for folder in reversed(path.parents):
            if folder not in self.made:
                self.args += ["--perms", "0755", "--dir", str(folder)]
                self.made.add(folder)

    def bind(self, source: Path, dest: Path | None = None, writable: bool = False) -> None:
        dest = dest or source
        self.folders_to(dest)
        self.args += ["--bind" if writable else "--ro-bind", str(source), str(dest)]
        self.made.add(dest)

    def tmpfs(self, dest: Path, size: int, mode: str = "0755") -> None:
        self.folders_to(dest)
        self.args += ["--perms", mode, "--size", str(size), "--tmpfs", str(dest)]
        self.made.add(dest)



def _mount_python(mounts: _Mounts, spec: SandboxSpec) -> None:
    prefixes = {Path(sys.base_prefix).resolve(), Path(sys.prefix)}
    for prefix in sorted(prefixes, key=lambda p: len(p.parts)):
        mounts.bind(prefix.resolve() if prefix.is_symlink() else prefix)
    package = PACKAGE_DIR
    for site_packages in site_packages_folders():
        # an empty folder over site-packages, then every entry but the ones left out bound back into it
        mounts.tmpfs(site_packages, 1 << 20)
        left_out = excluded_entries(site_packages, spec.excludes)
        allowed = allowed_entries(site_packages, spec.packages) if spec.packages is not None else None
        for entry in sorted(os.listdir(site_packages)):
            lower = entry.lower()
            if allowed is not None and entry not in allowed:
                continue
            if not spec.torch and lower.startswith(TORCH_ENTRIES):
                continue
            if entry in left_out:
                continue
            if entry.startswith("coursekit") and (site_packages / entry).resolve() == package:
                continue  # a non-editable install: the view goes here instead
            mounts.bind(site_packages / entry)
    if spec.package_view:
        mounts.bind(Path(spec.package_view), package)
    elif package not in mounts.made:
        mounts.bind(package)


def bwrap_command(kernel_argv: list[str], spec: SandboxSpec, uid: int | None = None) -> list[str]:
    """The bwrap command line that runs kernel_argv in the sandbox described by spec (see the module docstring).

    uid: as root, the unprivileged uid the kernel switches to inside the sandbox (None: a user namespace instead).
    """
    scratch = Path(spec.scratch).resolve()
    limits = Limits(**spec.limits)
    cmd = ["bwrap", "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid", "--unshare-net",
           "--unshare-uts", "--unshare-cgroup-try", "--clearenv"]
    if uid is None:
        cmd += ["--unshare-user", "--uid", "65534", "--gid", "65534"]
    else:  # no user namespace: inside one, the switch to uid would be refused
        # only what `drop` needs to switch user; the switch to a non-root uid clears them again
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    mounts = _Mounts()
    for name in SYSTEM_DIRS:
        path = Path("/") / name
        if path.is_symlink():
            mounts.args += ["--symlink", os.readlink(path), str(path)]
            mounts.made.add(path)
        elif path.is_dir():
            mounts.bind(path)
    for name in ETC_FILES:
        if (Path("/etc") / name).exists():
            mounts.bind(Path("/etc") / name)
    mounts.args += ["--dev", "/dev", "--proc", "/proc"]
    mounts.made.update({Path("/dev"), Path("/proc")})
    mounts.tmpfs(Path("/tmp"), limits.tmp_bytes, "1777")
    _mount_python(mounts, spec)
    connection = _connection_file(kernel_argv)
    if connection is not None:
        connection = connection.resolve()
        mounts.bind(connection)
        info = json.loads(connection.read_text())
        if info.get("transport") == "ipc":
            sockets = Path(info["ip"]).resolve().parent
            mounts.bind(sockets, writable=True)
    mounts.bind(scratch, writable=True)
    cmd += mounts.args + ["--chdir", str(scratch)]
    for name, value in kernel_env(spec).items():
        cmd += ["--setenv", name, value]
    if uid is not None:
        kernel_argv = [sys.executable, "-I", "-S", "-c", DROP_SOURCE, str(uid), json.dumps(spec.limits), "--",
                       *kernel_argv]
    return cmd + ["--", *kernel_argv]


def _apply_limits(limits: Limits, extra_processes: int = 0) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    nproc = limits.processes + extra_processes
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


# Runs inside the sandbox as root, before the kernel: self-contained, because the package view the kernel sees
# has no grader-side code (coursekit.course is not in it).
DROP_SOURCE = """
import json, os, resource, sys
uid, limits, argv = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[4:]
resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"],) * 2)
resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"],) * 2)
resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"],) * 2)
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
os.setgroups([])
os.setgid(uid)
os.setuid(uid)
os.execvp(argv[0], argv)
"""


def _processes_of(uid: int) -> int:
    count = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.startswith("Uid:"):
                    count += int(line.split()[1]) == uid
                    break
        except OSError:
            continue
    return count


def _hand_over(path: Path, uid: int) -> None:
    """chown one folder or file the grader created for this kernel, never through a link."""
    os.chown(path, uid, uid, follow_symlinks=False)


def run(kernel_argv: list[str], spec: SandboxSpec) -> None:
    """Replace this process with the sandboxed kernel."""
    scratch = Path(spec.scratch)
    if spec.cgroup_procs:
        # before bwrap and the kernel exist: everything they ever start is counted (limits.CgroupAccount)
        with open(spec.cgroup_procs, "w") as f:
            f.write(f"{os.getpid()}\n")
    if os.geteuid() == 0:
        uid = _sandbox_uid()
        # the kernel's own files: its scratch folder and answer folders, its sockets, its connection file.
        # The grader created them a moment ago; nothing in them came from a kernel yet.
        _hand_over(scratch, uid)
        for sub in ("answers", "records"):
            if (scratch / ".grading" / sub).is_dir():
                _hand_over(scratch / ".grading" / sub, uid)
        connection = _connection_file(kernel_argv)
        if connection is not None:
            _hand_over(connection, uid)
            info = json.loads(Path(connection).read_text())
            if info.get("transport") == "ipc":
                _hand_over(Path(info["ip"]).parent, uid)
        cmd = bwrap_command(kernel_argv, spec, uid)
        # limits are applied by DROP_SOURCE, after bwrap has set up the namespaces as root
    else:
        cmd = bwrap_command(kernel_argv, spec)
        # RLIMIT_NPROC counts all of this user's processes: allow for the ones already running
        _apply_limits(Limits(**spec.limits), extra_processes=_processes_of(os.getuid()))
    os.execvp(cmd[0], cmd)



def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 4 and argv[0] == "run" and argv[1] == "--spec" and argv[3] == "--":
        run(argv[4:], SandboxSpec.from_json(argv[2]))
        return 0  # not reached: run() replaces the process
    print("usage: python -m coursekit.course.sandbox run --spec JSON -- KERNEL_COMMAND...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

