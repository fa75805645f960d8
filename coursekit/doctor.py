"""`coursekit doctor`: what a student or instructor needs to know before starting, one line per item.

Nothing here imports torch or Jupyter unless it is installed; every missing piece gets a line saying how to
install it.
"""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Check", "run_checks", "main"]

FIX_TORCH = "pip install 'coursekit[torch]'  (or: make install, which pins torch==2.13.0)"
FIX_COURSE = "pip install 'coursekit[course]'  (or: make install)"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    needed_for: str = ""

    def line(self) -> str:
        mark = "ok     " if self.ok else "MISSING"
        text = f"  {mark} {self.name:<22} {self.detail}"
        if not self.ok and self.fix:
            text += f"\n          fix: {self.fix}"
        return text


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _package(name: str, dist: str, fix: str, needed_for: str) -> Check:
    version = _version(dist)
    if version is None:
        return Check(name, False, f"not installed (needed for {needed_for})", fix, needed_for)
    return Check(name, True, version, needed_for=needed_for)


def _torch_checks() -> list[Check]:
    if importlib.util.find_spec("torch") is None:
        return [Check("torch", False, "not installed (needed for models, data, training, the UNet and VGG "
                      "assignments)", FIX_TORCH, "torch")]
    import torch

    checks = [Check("torch", True, torch.__version__, needed_for="torch")]
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        checks.append(Check("CUDA", True, f"{torch.cuda.device_count()} GPU(s): {names}; CUDA {torch.version.cuda}"))
    else:
        built = torch.version.cuda or "none"
        checks.append(Check("CUDA", True, f"no GPU visible (torch built for CUDA: {built}); training runs on CPU"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        checks.append(Check("MPS", True, "Apple GPU available"))
    return checks


def _widget_extension() -> Check:
    if _version("jupyterlab_widgets") is None:
        return Check("widget extension", False, "jupyterlab_widgets not installed: lecture sliders will not render",
                     "pip install ipywidgets jupyterlab_widgets", "lectures")
    prefixes = {Path(sys.prefix), Path(sys.base_prefix)}
    for prefix in prefixes:
        if (prefix / "share/jupyter/labextensions/@jupyter-widgets/jupyterlab-manager").is_dir():
            return Check("widget extension", True, "@jupyter-widgets/jupyterlab-manager found", needed_for="lectures")
    return Check("widget extension", False, "jupyterlab_widgets is installed but its lab extension was not found",
                 "pip install --force-reinstall jupyterlab_widgets", "lectures")


def _sandbox_check() -> Check:
    bwrap = shutil.which("bwrap")
    fix = "sudo apt-get install bubblewrap (Fedora: sudo dnf install bubblewrap); make install does it when it can"
    if bwrap is None:
        return Check("bubblewrap", False, "bwrap not found: autograding refuses to run without its sandbox", fix,
                     "autograding")
    from .course.sandbox import available

    if not available():
        return Check("bubblewrap", False, f"{bwrap} cannot create namespaces here (user namespaces disabled?)",
                     "enable unprivileged user namespaces, or grade as root", "autograding")
    return Check("bubblewrap", True, f"{bwrap}: student kernels are sandboxed", needed_for="autograding")


def _threads_check() -> Check:
    """Whether waiting threads yield (OMP_WAIT_POLICY=PASSIVE), and for how many cores the counts are set."""
    import os

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
                 "(coursekit kernel install); unset COURSEKIT_THREAD_POLICY=off", "shared machines")


def _kernel_check() -> Check:
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:
        return Check("course kernel", False, "jupyter_client not installed", FIX_COURSE, "lectures")
    from .kernel import KERNEL_NAME

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        return Check("course kernel", False, f"the '{KERNEL_NAME}' Jupyter kernel is not registered: lectures and "
                     "assignments ask for it", "coursekit kernel install  (make install does it)", "lectures")
    return Check("course kernel", True, f"'{KERNEL_NAME}' -> {spec.argv[0]}", needed_for="lectures")


def run_checks() -> list[Check]:
    py_ok = sys.version_info >= (3, 10)
    checks = [
        Check("python", py_ok, f"{platform.python_version()} ({sys.executable})",
              "" if py_ok else "install Python 3.10 or newer", "everything"),
        _package("numpy", "numpy", "pip install numpy", "everything"),
        *_torch_checks(),
        _package("tqdm", "tqdm", FIX_TORCH, "progress bars"),
        _package("jupyterlab", "jupyterlab", FIX_COURSE, "lectures"),
        _package("nbgrader", "nbgrader", FIX_COURSE, "assignments and grading"),
        _package("ipywidgets", "ipywidgets", FIX_COURSE, "lectures"),
        _widget_extension(),
        _package("matplotlib", "matplotlib", FIX_COURSE, "plots"),
        _package("nbval", "nbval", FIX_COURSE, "notebook tests"),
        _package("scikit-learn", "scikit-learn", FIX_COURSE, "the bundled digits data set"),
        _package("scikit-image", "scikit-image", FIX_COURSE, "the bundled face / non-face patches"),
    ]
    checks.append(_kernel_check())
    checks.append(_threads_check())
    checks.append(_sandbox_check())
    return checks


def main() -> int:
    checks = run_checks()
    print(f"coursekit doctor (coursekit {_version('coursekit') or 'from source'})")
    for check in checks:
        print(check.line())
    missing = [c for c in checks if not c.ok]
    if not missing:
        print("Everything is in place: `make course` grades, `make lab` opens the lectures.")
    else:
        print(f"{len(missing)} item(s) missing; each line above says how to fix it.")
    # Only a broken core is an error: the NumPy library works without the rest.
    core_ok = all(c.ok for c in checks if c.name in ("python", "numpy"))
    return 0 if core_ok else 1
