"""coursekit: a course on convolutional networks for vision, and the library it is built on.

``import coursekit`` and the NumPy core (``coursekit.nn``, ``coursekit.optim``, ``coursekit.gradcheck``,
``coursekit.arithmetic``) need numpy alone. The PyTorch side (``coursekit.models``, ``coursekit.data``,
``coursekit.train``, ``coursekit.metrics``) is imported on first use and needs ``pip install coursekit[torch]``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {"nn", "optim", "gradcheck", "arithmetic", "models", "data", "train", "metrics", "viz", "widgets",
               "grading", "course", "doctor"}

__all__ = sorted(_SUBMODULES) + ["__version__"]


def __getattr__(name):
    # Submodules load lazily so that `import coursekit` never pulls in torch or matplotlib.
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'coursekit' has no attribute {name!r}")


def __dir__():
    return __all__
