"""Run each student kernel inside a bubblewrap sandbox, with resource limits.

The kernel manager below launches ``python -m coursekit.course.sandbox run -- <kernel command>`` instead of the
kernel itself. That wrapper sets resource limits and replaces itself with ``bwrap``, which starts the kernel:

* read-only view of the system (/usr, /etc, ...), fresh /dev and /proc, no network (its own empty network
  namespace), its own PID namespace (every process it starts dies with it);
* an unprivileged user: when the grader runs as root, the kernel drops to a uid of its own (60000 + a number
  unique to the sandbox) just before it starts, so limits that the kernel never applies to root — the number of
  processes above all — hold; otherwise it runs as uid 65534 in a user namespace;
* the course repository, the instructor's home and /tmp replaced by empty in-memory folders, so solutions/,
  the gradebook, other submissions and the instructor's files are not there to read or write;
* put back, read-only: the Python installation, the virtual environment and the coursekit package; read-write:
  the one submission folder the kernel runs in and the private folder of its IPC sockets;
* limits: address space (memory), number of processes, size of any file written, no core dumps;
* the grader's environment variables that would tell the notebook it is being graded are removed.

The kernel talks to the grader over Unix sockets (IPC transport) in a folder created for that kernel alone.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = ["Limits", "available", "bwrap_command", "sandbox_kernel_manager",
           "SandboxUnavailable"]

REPO_ROOT = Path(__file__).resolve().parents[2]
# JPY_PARENT_PID: the parent is invisible from inside the PID namespace, and ipykernel would exit on not finding it
HIDDEN_ENV = ("NBGRADER_EXECUTION", "NBGRADER_VALIDATING", "COURSEKIT_DB_URL", "JPY_SESSION_NAME", "JPY_PARENT_PID")


class SandboxUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 4 << 30      # address space of the kernel and anything it starts
    processes: int = 64              # processes and threads the sandbox may hold at once
    file_bytes: int = 64 << 20       # largest file the kernel may write

    @classmethod
    def from_env(cls) -> Limits:
        def get(name, default):
            value = os.environ.get(name)
            return int(value) if value else default

        base = cls()
        return cls(get("COURSEKIT_MEMORY_BYTES", base.memory_bytes), get("COURSEKIT_MAX_PROCESSES", base.processes),
                   get("COURSEKIT_MAX_FILE_BYTES", base.file_bytes))


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


def _connection_file(argv: list[str]) -> Path | None:
    for i, arg in enumerate(argv):
        if arg == "-f" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--f="):
            return Path(arg.split("=", 1)[1])
    return None


def _python_paths() -> list[Path]:
    """Folders the kernel's interpreter needs: its installation, the environment, and coursekit itself."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.executable).resolve().parent,
             Path(__file__).resolve().parents[1]}  # the coursekit package (an editable install points here)
    # a folder inside another one on the list comes with it
    return sorted((p for p in paths if not any(q in p.parents for q in paths)), key=lambda p: len(p.parts))


def _sandbox_uid() -> int:
    return 60000 + os.getpid() % 20000


def _parents(path: Path, hidden) -> list[str]:
    """--dir arguments creating, mode 0755, every folder between the innermost hidden folder above path and path.

    Without them bwrap creates the folders on the way to a mount point itself, readable by root only, and the
    kernel's unprivileged user could not reach what is mounted there.
    """
    above = [h for h in hidden if h in path.parents]
    if not above:
        return []
    inner = max(above, key=lambda h: len(h.parts))
    args = []
    for folder in reversed(path.parents):
        if inner in folder.parents:
            args += ["--perms", "0755", "--dir", str(folder)]
    return args


def bwrap_command(kernel_argv: list[str], cwd: Path, uid: int | None = None) -> list[str]:
    """The bwrap command line that runs kernel_argv confined to cwd (see the module docstring).

    uid: as root, the unprivileged uid the kernel switches to inside the sandbox (None: a user namespace instead).
    """
    cwd = Path(cwd).resolve()
    cmd = ["bwrap", "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid", "--unshare-net",
           "--unshare-uts", "--unshare-cgroup-try"]
    if uid is None:
        cmd += ["--unshare-user", "--uid", "65534", "--gid", "65534"]
    else:  # no user namespace: inside one, the switch to uid would be refused
        # only what `drop` needs to switch user; the switch to a non-root uid clears them again
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    cmd += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    hidden = {Path("/tmp"), Path.home().resolve(), REPO_ROOT}
    if os.environ.get("JUPYTER_RUNTIME_DIR"):
        hidden.add(Path(os.environ["JUPYTER_RUNTIME_DIR"]).resolve())
    hidden = sorted((h for h in hidden if h.exists() and h != Path("/")), key=lambda p: len(p.parts))
    for path in hidden:
        cmd += _parents(path, hidden) + ["--perms", "1777" if path == Path("/tmp") else "0755", "--tmpfs",
                                         str(path)]
    # put back exactly what the kernel needs, read-only; mount points on the way are created world-readable
    for path in _python_paths():
        if any(h in path.parents or h == path for h in hidden):
            cmd += _parents(path, hidden) + ["--ro-bind", str(path), str(path)]
    connection = _connection_file(kernel_argv)
    if connection is not None:
        connection = connection.resolve()
        cmd += _parents(connection, hidden) + ["--ro-bind", str(connection), str(connection)]
        info = json.loads(connection.read_text())
        if info.get("transport") == "ipc":
            sockets = Path(info["ip"]).resolve().parent
            cmd += _parents(sockets, hidden) + ["--bind", str(sockets), str(sockets)]
    cmd += _parents(cwd, hidden)
    cmd += ["--bind", str(cwd), str(cwd), "--chdir", str(cwd), "--setenv", "HOME", "/tmp",
            "--setenv", "TMPDIR", "/tmp", "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib"]
    for name in HIDDEN_ENV:
        cmd += ["--unsetenv", name]
    if uid is not None:
        kernel_argv = [sys.executable, "-m", "coursekit.course.sandbox", "drop", str(uid), "--", *kernel_argv]
    return cmd + ["--", *kernel_argv]


def _apply_limits(limits: Limits, extra_processes: int = 0) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    nproc = limits.processes + extra_processes
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


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


def run(kernel_argv: list[str]) -> None:
    """Replace this process with the sandboxed kernel."""
    cwd = Path.cwd()
    if os.geteuid() == 0:
        uid = _sandbox_uid()
        # the kernel's own files: its working folder, its sockets, its connection file
        os.chown(cwd, uid, uid)
        connection = _connection_file(kernel_argv)
        if connection is not None:
            os.chown(connection, uid, uid)
            info = json.loads(Path(connection).read_text())
            if info.get("transport") == "ipc":
                os.chown(Path(info["ip"]).parent, uid, uid)
        cmd = bwrap_command(kernel_argv, cwd, uid)
        # limits are applied by `drop`, after bwrap has set up the namespaces as root
    else:
        cmd = bwrap_command(kernel_argv, cwd)
        # RLIMIT_NPROC counts all of this user's processes: allow for the ones already running
        _apply_limits(Limits.from_env(), extra_processes=_processes_of(os.getuid()))
    os.execvp(cmd[0], cmd)


def drop(uid: int, kernel_argv: list[str]) -> None:
    """Inside the sandbox, as root: apply the limits, become uid, and start the kernel."""
    _apply_limits(Limits.from_env())
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    os.execvp(kernel_argv[0], kernel_argv)


# ------------------------------------------------------------------------------------------ kernel manager
def sandbox_kernel_manager(require: bool = True):
    """The kernel manager class for graded kernels: sandboxed if bwrap works; otherwise refuse unless opted out.

    Opting out: COURSEKIT_NO_SANDBOX=1 (then kernels run with the grader's rights, talking over Unix sockets).
    """
    from jupyter_client.manager import AsyncKernelManager

    use_sandbox = available()
    if not use_sandbox and require and os.environ.get("COURSEKIT_NO_SANDBOX") != "1":
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed or cannot create namespaces here, and student code would run with "
            "your rights. Install it (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install "
            "bubblewrap), or set COURSEKIT_NO_SANDBOX=1 to grade without a sandbox at your own risk.")

    class SandboxedKernelManager(AsyncKernelManager):
        """A kernel on Unix sockets in a private folder, started inside bwrap when available."""

        sandboxed = use_sandbox

        def __init__(self, **kwargs):
            self._socket_dir = tempfile.mkdtemp(prefix="coursekit-kernel-")
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", os.path.join(self._socket_dir, "kernel"))
            super().__init__(**kwargs)

        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            if not self.sandboxed:
                return cmd
            return [sys.executable, "-m", "coursekit.course.sandbox", "run", "--", *cmd]

        async def _async_launch_kernel(self, kernel_cmd, **kw) -> None:
            # Without JPY_PARENT_PID (removed on purpose) ipykernel believes it runs stand-alone and prints its
            # connection banner on stdout, into the grader's or the student's terminal. Its stderr stays.
            kw.setdefault("stdout", subprocess.DEVNULL)
            await super()._async_launch_kernel(kernel_cmd, **kw)

        _launch_kernel = _async_launch_kernel

        async def _async_interrupt_kernel(self) -> None:
            if not self.sandboxed:
                return await super()._async_interrupt_kernel()
            # the process we started is bwrap: a signal would end the whole sandbox, so ask the kernel itself
            msg = self.session.msg("interrupt_request", content={})
            self._connect_control_socket()
            self.session.send(self._control_socket, msg)

        interrupt_kernel = _async_interrupt_kernel

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart:
                shutil.rmtree(self._socket_dir, ignore_errors=True)

        cleanup_resources = _async_cleanup_resources

    return SandboxedKernelManager


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[0] == "run" and argv[1] == "--":
        run(argv[2:])
        return 0  # not reached: run() replaces the process
    if len(argv) >= 3 and argv[0] == "drop" and argv[2] == "--":
        drop(int(argv[1]), argv[3:])
        return 0
    print("usage: python -m coursekit.course.sandbox run -- KERNEL_COMMAND...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
