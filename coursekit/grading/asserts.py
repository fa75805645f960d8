"""Visible self-checks: test-cell assertions that decide nothing and say what is wrong in a student's words.

``assert_close`` / ``assert_shape`` / ``assert_scalar`` / ``assert_gradient`` compare a student's result with a
reference and, on failure, name the shapes or the worst element with its index and error. The comparison itself is
``coursekit.grading.compare.difference``, the same one every judge of the grader uses, so a visible check and a
hidden one never disagree about what "close" means. ``rng(test_id)`` gives each test its own seeded generator.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .compare import difference

__all__ = ["assert_close", "assert_shape", "assert_scalar", "assert_gradient", "rng"]

def assert_shape(actual, expected_shape, name: str = "result") -> None:
    if actual is None:
        raise AssertionError(f"{name} is None: did the function return its result?")
    # arrays and tensors (on any device, PyTorch's shape-only "meta" device included) by their shape attribute
    shape = getattr(actual, "shape", None)
    shape = tuple(np.asarray(actual).shape if shape is None else shape)
    if shape != tuple(expected_shape):
        raise AssertionError(f"{name} has shape {shape}, expected {tuple(expected_shape)}")


def assert_close(actual, expected, name: str = "result", rtol: float = 1e-6, atol: float = 1e-8,
                 hint: str = "") -> None:
    """Fail with the worst element, its index and its error when actual and expected differ
    (``coursekit.grading.compare.difference``: shapes exactly equal, NaN and inf reported as such)."""
    problem = difference(actual, expected, name, rtol=rtol, atol=atol)
    if problem is not None:
        raise AssertionError(problem + (f". {hint}" if hint else ""))


def assert_scalar(actual, expected, name: str = "result", rtol: float = 1e-9, hint: str = "") -> None:
    """For counts and sizes: the exact value (or within rtol for floats), with a clear message."""
    if isinstance(expected, (int, np.integer)):
        if not isinstance(actual, (int, np.integer)) or isinstance(actual, bool):
            raise AssertionError(f"{name} should be an int, got {type(actual).__name__} {actual!r}")
        if int(actual) != int(expected):
            raise AssertionError(f"{name} is {actual}, expected {expected}" + (f". {hint}" if hint else ""))
        return
    if not abs(float(actual) - float(expected)) <= rtol * abs(float(expected)):
        raise AssertionError(f"{name} is {actual!r}, expected {expected!r}" + (f". {hint}" if hint else ""))


def assert_gradient(analytic, f, x, df=None, name: str = "gradient", tol: float = 1e-6, samples: int = 30,
                    seed: int = 0) -> None:
    """Compare an analytic gradient with centred differences on sampled entries (float64)."""
    from .gradcheck import GradientCheckError, check_gradient

    analytic = np.asarray(analytic, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if analytic.shape != x.shape:
        raise AssertionError(f"{name} has shape {analytic.shape}, expected {x.shape} (the shape of its input)")
    try:
        check_gradient(f, x, analytic, df, name=name, tol=tol, samples=samples, rng=seed)
    except GradientCheckError as exc:
        raise AssertionError(str(exc)) from None


def rng(test_id: str) -> np.random.Generator:
    """A generator seeded by the test's name: random, but the same draws on every regrade and every machine."""
    seed = int.from_bytes(hashlib.sha256(test_id.encode()).digest()[:8], "little")
    return np.random.default_rng(seed)
