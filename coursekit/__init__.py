"""coursekit: a course on convolutional networks for vision, and the library it is built on.

``import coursekit`` and the NumPy core (``coursekit.nn``, ``coursekit.optim``, ``coursekit.gradcheck``,
``coursekit.arithmetic``) need numpy alone. The PyTorch side (``coursekit.models``, ``coursekit.data``,
``coursekit.train``) is imported on first use and needs the ``torch`` extra, ``coursekit.viz`` and
``coursekit.widgets`` the ``course`` extra; imported without it, each fails at once with one line naming the extra
and the command that installs it (``coursekit._extras``). ``coursekit doctor`` says which parts are ready.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {"nn", "optim", "gradcheck", "arithmetic", "models", "data", "train", "metrics", "viz", "widgets",
               "grading", "course", "doctor", "threads", "kernel", "variants", "gradlab", "optimlab", "exercises"}

__all__ = sorted(_SUBMODULES) + ["__version__"]

# Waiting threads that yield and thread counts that fit the usable cores, set before torch loads (see
# coursekit.threads): on a busy machine, spinning OpenMP threads made a lecture 11x slower instead of 2x.
from . import threads as _threads  # noqa: E402  (numpy-free, imports only the standard library)

_threads.apply()


def __getattr__(name):
    # Submodules load lazily so that `import coursekit` never pulls in torch or matplotlib.
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'coursekit' has no attribute {name!r}")


def __dir__():
    return __all__
