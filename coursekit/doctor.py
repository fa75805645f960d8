"""`coursekit doctor`: which parts of coursekit are ready here, what each missing part is for, and how to add it.

coursekit comes in parts that need different packages (the extras of ``pyproject.toml``): the NumPy core needs
numpy alone; the PyTorch side adds torch; the lectures and the assignments add Jupyter, nbgrader and the
autograder's sandbox. The report has one line per part ("ready" or "missing", and what the part is for), the
components a missing part lacks, and one fix for the whole part: an editable install for a clone of the
repository (``pip install -e '.[torch]'``, or ``make install``), ``pip install 'coursekit[torch]'`` for a package
installed from an index.

Nothing here imports torch or Jupyter unless it is installed.
"""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import os
import platform
import shutil
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from ._extras import clone_root, install_command

__all__ = ["Check", "Part", "run_checks", "parts", "main"]


NOT_INSTALLED = "not installed"


@dataclass
class Check:
    """One component of a part: a package, the kernel, the sandbox, the thread settings."""

    name: str
    ok: bool
    detail: str
    fix: str = ""         # a fix of its own, when installing the part's extra is not what adds it
    needed_for: str = ""  # what this component is for, when it is not the whole part's purpose


@dataclass
class Part:
    """A part of coursekit: ready when every one of its components is."""

    name: str
    purpose: str
    checks: list[Check]
    fix: str = ""
    notes: list[str] = field(default_factory=list)  # what a ready part says about itself (versions, GPUs)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def lines(self) -> list[str]:
        head = f"  {'ready' if self.ok else 'missing':<8} {self.name}: {self.purpose}"
        if self.ok:
            details = self.notes or [", ".join(c.detail for c in self.checks)]
            return [head] + [f"{'':11}{d}" for d in details]
        missing = [c for c in self.checks if not c.ok]
        lines = [head]
        absent = [c.name + (f" ({c.needed_for})" if c.needed_for else "") for c in missing if c.detail == NOT_INSTALLED]
        if absent:
            lines += textwrap.wrap("not installed: " + ", ".join(absent), 118, initial_indent=" " * 11,
                                   subsequent_indent=" " * 13, break_on_hyphens=False)
        lines += [f"{'':11}{c.name}: {c.detail}" for c in missing if c.detail != NOT_INSTALLED]
        fixes = [self.fix] if self.fix and any(not c.fix for c in missing) else []
        fixes += [c.fix for c in missing if c.fix and c.fix not in fixes]
        lines.append(f"{'':11}fix: " + f"\n{'':11}then: ".join(fixes))
        return lines


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _package(name: str, dist: str | None = None, needed_for: str = "") -> Check:
    version = _version(dist or name)
    if version is None:
        return Check(name, False, NOT_INSTALLED, needed_for=needed_for)
    return Check(name, True, f"{name} {version}", needed_for=needed_for)


def _extra_fix(extra: str) -> str:
    """The command for a whole extra; in a clone, `make install` does everything at once."""
    command = install_command(extra)
    if clone_root() is not None:
        command += "   (or make install: the repository's .venv with every extra)"
    return command


def _torch_notes() -> list[str]:
    import torch

    notes = [f"torch {torch.__version__}, tqdm {_version('tqdm') or '(missing)'}"]
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        notes.append(f"CUDA: {torch.cuda.device_count()} GPU(s): {names}; CUDA {torch.version.cuda}")
    else:
        built = torch.version.cuda or "none"
        notes.append(f"CUDA: no GPU visible (torch built for CUDA: {built}); training runs on the CPU")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        notes.append("MPS: Apple GPU available")
    return notes


def _widget_extension() -> Check:
    name = "widget extension"
    if _version("jupyterlab_widgets") is None:
        return Check("jupyterlab_widgets", False, NOT_INSTALLED, needed_for="the sliders in JupyterLab")
    for prefix in {Path(sys.prefix), Path(sys.base_prefix)}:
        if (prefix / "share/jupyter/labextensions/@jupyter-widgets/jupyterlab-manager").is_dir():
            return Check(name, True, "@jupyter-widgets/jupyterlab-manager")
    return Check(name, False, "jupyterlab_widgets is installed but its lab extension was not found",
                 "pip install --force-reinstall jupyterlab_widgets", "the sliders in JupyterLab")


def _sandbox_check() -> Check:
    bwrap = shutil.which("bwrap")
    fix = "sudo apt-get install bubblewrap (Fedora: sudo dnf install bubblewrap); make install does it when it can"
    if bwrap is None:
        return Check("bubblewrap", False, "bwrap not found: autograding refuses to run without its sandbox", fix)
    from .course.sandbox import available

    if not available():
        return Check("bubblewrap", False, f"{bwrap} cannot create namespaces here (user namespaces disabled?)",
                     "enable unprivileged user namespaces, or grade as root")
    return Check("bubblewrap", True, f"{bwrap}: student kernels are sandboxed")


def _cpu_accounting_check() -> Check:
    """Which CPU accounting the kernels' CPU limits would read here: a cgroup of their own (every process counted,
    the exited ones too) or the /proc fallback (which misses a child that lives between two polls)."""
    if not sys.platform.startswith("linux"):
        return Check("CPU accounting", True, "not Linux: no CPU accounting of the kernel's processes")
    from .course.limits import CgroupAccount

    probe = CgroupAccount.create(f"coursekit-doctor-{os.getpid()}")
    if probe is None:
        return Check("CPU accounting", True, "/proc polling (no cgroup can be made here: a child that exits "
                     "between two polls is not counted; grade as root or with a delegated cgroup for the exact "
                     "count)")
    where, version = probe.path.parent, probe.version
    probe.close()
    kind = "cgroup v2 cpu.stat" if version == 2 else "cgroup v1 cpuacct"
    return Check("CPU accounting", True, f"{kind} under {where}: every process a kernel starts is counted")


def _threads_check() -> Check:
    """Whether waiting threads yield (OMP_WAIT_POLICY=PASSIVE), and for how many cores the counts are set."""
    from . import threads

    state = threads.STATE
    cores, total = threads.usable_cores(), os.cpu_count() or 1
    where = f"{cores} usable core(s)" + (f" of {total} (affinity / cgroup quota)" if cores != total else "")
    policy = os.environ.get("OMP_WAIT_POLICY", "unset")
    counts = os.environ.get("OMP_NUM_THREADS", "unset")
    ok = policy.upper() == "PASSIVE" and not state["too_late"]
    detail = f"{where}; OMP_WAIT_POLICY={policy}, OMP_NUM_THREADS={counts}"
    if state["too_late"]:
        detail += "; " + state["detail"]
    return Check("thread settings", ok, detail,
                 "import coursekit before torch, or start notebooks with the 'coursekit' kernel "
                 "(coursekit kernel install); unset COURSEKIT_THREAD_POLICY=off")


def _kernel_check() -> Check:
    name = "course kernel"
    if importlib.util.find_spec("jupyter_client") is None:
        return Check(name, False, "not registered (Jupyter is not installed yet)", "coursekit kernel install")
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    from .kernel import KERNEL_NAME

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        return Check(name, False, f"the '{KERNEL_NAME}' Jupyter kernel that lectures and assignments ask for is not "
                     "registered", "coursekit kernel install  (make install does it)")
    return Check(name, True, f"kernel '{KERNEL_NAME}' -> {spec.argv[0]}")


def parts() -> list[Part]:
    """Every part of coursekit with its components checked, the NumPy core first."""
    py_ok = sys.version_info >= (3, 10)
    python = Check("python", py_ok, f"Python {platform.python_version()}", "install Python 3.10 or newer")
    core = Part("NumPy core", "coursekit.nn, .nn.functional, .optim, .gradcheck, .arithmetic",
                [python, _package("numpy")], "pip install numpy")

    torch_checks = [_package("torch"), _package("tqdm", needed_for="progress bars")]
    torch_part = Part("PyTorch side", "coursekit.models, .data, .train; Lectures 5-8 and Assignments 3-4",
                      torch_checks, _extra_fix("torch"))
    if torch_checks[0].ok:
        torch_part.notes = _torch_notes()

    lecture_checks = [
        _package("jupyterlab"), _package("ipywidgets", needed_for="the sliders"), _widget_extension(),
        _package("matplotlib", needed_for="every plot, coursekit.viz"), _kernel_check(),
        _package("scikit-learn", needed_for="coursekit.data.digits"),
        _package("scikit-image", needed_for="coursekit.data.faces"),
    ]
    lectures = Part("Lectures in JupyterLab", "the lecture notebooks with their plots and sliders (make lab)",
                    lecture_checks, _extra_fix("course"))

    grading = Part("Assignments and grading", "Validate, coursekit check, release and autograde (make course)",
                   [_package("nbgrader"), _sandbox_check(), _cpu_accounting_check(),
                    _package("jupyter-server-mathjax", needed_for="formulas in feedback and the formgrader, offline")],
                   _extra_fix("course"))
    shared = Part("Thread settings", "lectures and grading that stay fast on a shared, busy machine",
                  [_threads_check()])
    result = [core, torch_part, lectures, grading, shared]
    if clone_root() is not None:  # the website's sources and the test suite live in the repository, not the package
        website = [_package("sphinx"), _package("myst-nb"), _package("sphinx-book-theme"),
                   _package("jupyter-server-mathjax", needed_for="MathJax served from the site itself")]
        result.append(Part("Course website", "the lectures and assignments as a static site (make site)", website,
                           _extra_fix("site")))
        tests = [_package("pytest"), _package("hypothesis"), _package("nbval", needed_for="the notebook tests"),
                 _package("playwright", needed_for="the browser tests, with make browser")]
        result.append(Part("Test suite", "make test", tests, _extra_fix("dev,course")))
    return result


def run_checks() -> list[Check]:
    """Every component of every part, flat (for scripts that want the individual items)."""
    return [c for part in parts() for c in part.checks]


def main() -> int:
    found = parts()
    root = clone_root()
    where = f"editable install from {root}" if root else "installed package"
    print(f"coursekit doctor: coursekit {_version('coursekit') or 'from source'} ({where}), Python "
          f"{platform.python_version()} ({sys.executable})")
    for part in found:
        print("\n".join(part.lines()))
    core, missing = found[0], [p for p in found if not p.ok]
    if not core.ok:
        print("The NumPy core is not ready: fix the lines above first; nothing of coursekit works without it.")
        return 1
    if not missing:
        print("Everything is in place: `make lab` opens the lectures, `make course` grades.")
    else:
        print("The NumPy core is ready. Not ready here: " + ", ".join(p.name for p in missing)
              + " (each with its fix above).")
    return 0  # only a broken core is an error: the NumPy library works without the rest
