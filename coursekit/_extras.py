"""Which optional packages each part of coursekit needs, and the one-line error when one is missing.

``import coursekit`` and the NumPy core need numpy alone. The rest comes in pip extras (``pyproject.toml``):

    torch    coursekit.models, coursekit.data, coursekit.train       (torch, tqdm)
    course   coursekit.viz, coursekit.widgets, the lectures, grading  (matplotlib, ipywidgets, jupyterlab, nbgrader ...)

A module that needs an extra calls :func:`require` on its first line, so ``import coursekit.models`` without torch
fails at once with one line naming the extra and the command that installs it (for a clone of the repository, an
editable install; for a package from an index, ``pip install 'coursekit[torch]'``), instead of a bare "No module
named 'torch'" from a file deep inside. The error is a ``ModuleNotFoundError``, so ``pytest.importorskip`` and
``except ImportError`` treat it as before. Only the package's presence is tested (``importlib.util.find_spec``):
nothing heavy is imported here, and a package that is installed but broken still raises its own error.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

__all__ = ["MissingExtraError", "require", "install_command", "is_importable", "clone_root"]

# import name -> distribution name, where they differ (for the message)
DISTRIBUTIONS = {"sklearn": "scikit-learn", "skimage": "scikit-image", "jupyter_client": "jupyter-client"}


class MissingExtraError(ModuleNotFoundError):
    """A part of coursekit needs a package of one of its extras, and that package is not installed."""


def clone_root() -> Path | None:
    """The repository this coursekit was installed from in editable mode (pip install -e), or None."""
    root = Path(__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    try:
        if pyproject.is_file() and 'name = "coursekit"' in pyproject.read_text(encoding="utf-8"):
            return root
    except OSError:
        pass
    return None


def install_command(extra: str) -> str:
    """The command that installs ``extra``: editable from this clone, or the package from an index."""
    root = clone_root()
    if root is None:
        return f"pip install 'coursekit[{extra}]'"
    where = "." if Path(os.getcwd()).resolve() == root else str(root)
    return f"pip install -e '{where}[{extra}]'"


def is_importable(package: str) -> bool:
    """Whether ``import package`` would find it, without importing it."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # an import hook that refuses it, or a half-initialised module
        return False


def require(what: str, packages: tuple[str, ...] | list[str] | str, extra: str) -> None:
    """Raise :class:`MissingExtraError` unless every package is importable.

    what: the module or function that needs them, for the message ("coursekit.models").
    packages: import names ("torch", "matplotlib"); extra: the pip extra that brings them ("torch", "course").
    """
    packages = (packages,) if isinstance(packages, str) else tuple(packages)
    missing = [p for p in packages if not is_importable(p)]
    if not missing:
        return
    names = " and ".join(DISTRIBUTIONS.get(p, p) for p in missing)
    verb = "are" if len(missing) > 1 else "is"
    raise MissingExtraError(f"{what} needs {names}, which {verb} not installed: {install_command(extra)}",
                            name=missing[0])
