"""The grader's handle on a student's kernel: a kernel manager that starts it in the sandbox, and a client that
refuses oversized messages at the socket.

``sandbox_kernel_manager`` gives nbclient a kernel manager class whose kernels start through the sandbox wrapper
(``python -m coursekit.course.sandbox run --spec JSON -- <kernel command>``) on Unix sockets in a private folder,
are interrupted through their control channel (a signal to bwrap would end the whole sandbox), and talk to a
``LimitedKernelClient``: zmq drops any message over ``max_message_bytes`` as it arrives (MAXMSGSIZE), before it is
received or parsed, and every dropped connection is recorded so the executor can fail the cell that sent it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .sandbox import SandboxSpec, SandboxUnavailable, available, kernel_env

__all__ = ["MAX_MESSAGE_BYTES", "LimitedKernelClient", "sandbox_kernel_manager"]

MAX_MESSAGE_BYTES = 32 << 20  # the largest message the grader accepts from a kernel (ExecuteAndJudge.max_message_bytes)

try:
    from jupyter_client.asynchronous import AsyncKernelClient as _AsyncKernelClient
except ImportError:  # pragma: no cover - jupyter_client comes with nbgrader
    _AsyncKernelClient = object


class LimitedKernelClient(_AsyncKernelClient):
    """A client whose sockets drop any message larger than ``max_message_bytes`` as it arrives (zmq's MAXMSGSIZE:
    the connection is reset and the message never reaches the grader's memory), instead of receiving and parsing
    it first. Each dropped connection is recorded in ``dropped`` (a monitor on every socket) so the grader can
    fail the cell that sent it."""

    max_message_bytes = MAX_MESSAGE_BYTES

    def _create_connected_socket(self, channel, identity=None):
        import zmq

        url = self._make_url(channel)
        from jupyter_client.connect import channel_socket_types

        sock = self.context.socket(channel_socket_types[channel])
        sock.linger = 1000
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        if identity:
            sock.identity = identity
        if getattr(self, "curve_publickey", None) is not None:
            sock.curve_secretkey = self.curve_secretkey
            sock.curve_publickey = self.curve_publickey
            sock.curve_serverkey = self.curve_publickey
        monitors = self.__dict__.setdefault("_coursekit_monitors", [])
        address = f"inproc://coursekit-monitor-{id(self)}-{channel}-{len(monitors)}"
        sock.monitor(address, zmq.EVENT_DISCONNECTED)
        watcher = zmq.Context.shadow(self.context.underlying).socket(zmq.PAIR)
        watcher.linger = 0
        watcher.connect(address)
        monitors.append((channel, watcher))
        sock.connect(url)
        return sock

    def stop_channels(self) -> None:
        # the watchers live in a shadow of the client's context: unclosed, they would hang its termination
        for _, watcher in self.__dict__.pop("_coursekit_monitors", []):
            watcher.close(linger=0)
        for old in self.__dict__.pop("_coursekit_retired", []):
            old.close(linger=0)
        super().stop_channels()

    def reconnect(self, channel: str) -> None:
        """A fresh socket for a channel whose connection was dropped (zmq does not reconnect after a message over
        MAXMSGSIZE; what the kernel sent meanwhile is lost)."""
        holder = getattr(self, f"_{channel}_channel", None)
        if holder is None or getattr(holder, "socket", None) is None or channel == "hb":
            return
        monitors = self.__dict__.get("_coursekit_monitors", [])
        old = holder.socket
        fresh = self.connect_iopub(identity=self.session.bsession) if channel == "iopub" else \
            self._create_connected_socket(channel, identity=self.session.bsession)
        holder.socket = fresh
        # closed with the channels: closing it now would cancel whatever still awaits it (nbclient takes that for
        # a dead kernel); it receives nothing more anyway
        self.__dict__.setdefault("_coursekit_retired", []).append(old)
        # keep the newest watcher of this channel only
        keep = [m for m in monitors if m[0] != channel]
        for name, watcher in monitors:
            if name == channel and watcher is not monitors[-1][1]:
                watcher.close(linger=0)
        self.__dict__["_coursekit_monitors"] = keep + [monitors[-1]]

    def dropped(self) -> list[str]:
        """The channels whose connection was dropped since the last call (a message over the size limit)."""
        import zmq

        found = []
        for channel, watcher in self.__dict__.get("_coursekit_monitors", []):
            try:
                while watcher.poll(0):
                    watcher.recv_multipart(zmq.NOBLOCK)
                    found.append(channel)
            except zmq.ZMQError:
                continue
        return found


# ------------------------------------------------------------------------------------------ kernel manager
def sandbox_kernel_manager(require: bool = True, spec: SandboxSpec | None = None,
                           max_message_bytes: int = MAX_MESSAGE_BYTES):
    """The kernel manager class for graded kernels: sandboxed if bwrap works; otherwise refused when require.

    spec: the sandbox to start kernels in (its scratch folder becomes the kernel's working folder); set later
    through the class attribute ``spec`` when None. require=False (``--no-sandbox``, COURSEKIT_NO_SANDBOX=1) runs
    kernels without bwrap where it is missing: with the grader's rights, in the scratch folder, with the
    allow-listed environment only. max_message_bytes: the largest message the kernel's client accepts.
    """
    from jupyter_client.manager import AsyncKernelManager

    use_sandbox = available()
    if not use_sandbox and require:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed or cannot create namespaces here, and student code would run with "
            "your rights. Install it (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install "
            "bubblewrap), or pass --no-sandbox (COURSEKIT_NO_SANDBOX=1) to grade without a sandbox at your own "
            "risk.")
    chosen_spec = spec
    client = type("LimitedKernelClient", (LimitedKernelClient,), {"max_message_bytes": int(max_message_bytes)})

    class SandboxedKernelManager(AsyncKernelManager):
        """A kernel on Unix sockets in a private folder, started inside bwrap when available."""

        sandboxed = use_sandbox
        spec: SandboxSpec | None = chosen_spec

        def __init__(self, **kwargs):
            self._socket_dir = tempfile.mkdtemp(prefix="coursekit-kernel-")
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", os.path.join(self._socket_dir, "kernel"))
            super().__init__(**kwargs)
            self.client_factory = client  # this manager's message limit

        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            if not self.sandboxed or self.spec is None:
                return cmd
            return [sys.executable, "-m", "coursekit.course.sandbox", "run", "--spec", self.spec.to_json(), "--",
                    *cmd]

        async def _async_launch_kernel(self, kernel_cmd, **kw) -> None:
            # Without JPY_PARENT_PID (removed on purpose) ipykernel believes it runs stand-alone and prints its
            # connection banner on stdout; the kernel's stderr goes nowhere the grader reads either.
            kw["stdout"] = subprocess.DEVNULL
            kw["stderr"] = subprocess.DEVNULL
            if self.spec is not None:
                kw["env"] = dict(os.environ) if self.sandboxed else kernel_env(self.spec)
                if not self.sandboxed and self.spec.package_view:
                    # no mounts without the sandbox: the view goes first on the path instead (a weaker wall)
                    kw["env"]["PYTHONPATH"] = str(Path(self.spec.package_view).parent)
                kw["cwd"] = self.spec.scratch
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


