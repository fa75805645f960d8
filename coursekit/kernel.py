"""The course's Jupyter kernel: IPython started with coursekit's thread settings already in its environment.

``python -m coursekit.kernel -f CONNECTION_FILE`` sets the variables of :func:`coursekit.threads.thread_env`
(those the user has not set) and then starts an ordinary IPython kernel, so PyTorch's OpenMP threads yield when
they wait even if a notebook imports torch before coursekit. ``coursekit kernel install`` registers it as the
``coursekit`` kernelspec that every lecture and assignment names; ``make install`` and ``make lab`` run that.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["KERNEL_NAME", "DISPLAY_NAME", "kernelspec", "install", "main"]

KERNEL_NAME = "coursekit"
DISPLAY_NAME = "Python 3 (coursekit)"


def kernelspec(python: str | None = None) -> dict:
    """The kernel.json of the course kernel, started by ``python`` (default: this interpreter)."""
    return {
        "argv": [python or sys.executable, "-m", "coursekit.kernel", "-f", "{connection_file}"],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "metadata": {"debugger": True},
    }


def install(prefix: str | None = None, user: bool = False) -> Path:
    """Write the kernelspec into ``prefix``/share/jupyter/kernels (default: this environment's prefix), or into the
    user's Jupyter data directory with ``user=True``. Returns the kernelspec's folder."""
    if user:
        from jupyter_core.paths import jupyter_data_dir

        base = Path(jupyter_data_dir())
    else:
        base = Path(prefix or sys.prefix) / "share" / "jupyter"
    folder = base / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kernel.json").write_text(json.dumps(kernelspec(), indent=1) + "\n")
    # the standard IPython logos, so the launcher shows the usual icon
    try:
        import ipykernel

        for logo in ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg"):
            source = Path(ipykernel.__file__).parent / "resources" / logo
            if source.is_file():
                (folder / logo).write_bytes(source.read_bytes())
    except ImportError:
        pass
    return folder


class _LoopbackWarningFilter:
    """Drops ipykernel's warning that TCP transport is unencrypted when the kernel listens on loopback only, as
    every kernel JupyterLab or nbclient starts on one machine does: it is printed on every start, says nothing the
    user can act on, and buries real messages in test and server logs."""

    def filter(self, record) -> bool:
        return "running over TCP without encryption" not in record.getMessage()


def main(argv=None) -> None:
    import logging

    from .threads import apply

    apply()  # before ipykernel imports anything that could load an OpenMP runtime
    from ipykernel import kernelapp

    args = sys.argv[1:] if argv is None else argv
    if _connection_ip(args) in ("127.0.0.1", "localhost", "::1", None):
        logging.getLogger("IPKernelApp").addFilter(_LoopbackWarningFilter())

    kernelapp.launch_new_instance(argv=args)


def _connection_ip(args) -> str | None:
    """The ip of the connection file named by -f, or None when it cannot be read (ipykernel then picks loopback)."""
    for flag, value in zip(args, args[1:]):
        if flag in ("-f", "--f", "--IPKernelApp.connection_file"):
            try:
                return json.loads(Path(value).read_text()).get("ip")
            except (OSError, ValueError):
                return None
    return None


if __name__ == "__main__":
    main()
