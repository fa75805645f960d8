"""Helpers that nbgrader test cells call.

* ``assert_close`` / ``assert_shape`` compare a student's array with a reference and, on failure, say what is wrong
  in words a student can act on: the shapes, or the worst element with its index and relative error.
* ``rng(test_id)`` gives each test its own seeded generator, so hidden tests draw random shapes and values and a
  regrade draws exactly the same ones.
* ``reference_disabled()`` runs the student's function with coursekit's own implementations (and torch's
  convolution and pooling) made unavailable, so an answer that merely calls the library fails with a clear message.
  Assignments built on PyTorch use ``reference_disabled(allow_torch=True)``: torch's layers stay available, and
  coursekit's PyTorch-side answers (UNet and its parts, the Dice metric and loss) are what gets disabled.
* ``Sentinel`` remembers, before any student code runs, the functions the tests rely on (numpy's comparisons,
  coursekit's layers, these helpers, key builtins); ``verify()`` then reports anything replaced since. Every
  helper here checks it, so a notebook that monkeypatches its way to a pass fails instead.

This is a guard against cheating by accident or by casual effort inside the kernel. Isolation from a determined
attacker is the job of the sandbox the autograder runs kernels in, not of Python code running beside them.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import importlib
import sys
import types

import numpy as np

__all__ = ["assert_close", "assert_shape", "assert_scalar", "assert_gradient", "rng", "reference_disabled",
           "ReferenceUnavailable", "TamperingDetected", "Sentinel", "verify", "install_sentinel"]


class ReferenceUnavailable(RuntimeError):
    """Raised when a student's function calls an implementation the test has disabled."""


class TamperingDetected(AssertionError):
    """A function the tests rely on was replaced after the notebook started."""


# ------------------------------------------------------------------------------------------ comparisons
def _describe(a) -> str:
    a = np.asarray(a)
    return f"array of shape {a.shape} and dtype {a.dtype}"


def _plain(x):
    """A torch tensor (one that requires grad, or on a GPU, included) as something NumPy can read."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        return x.detach().cpu().numpy()
    return x


def assert_shape(actual, expected_shape, name: str = "result") -> None:
    verify()
    if actual is None:
        raise AssertionError(f"{name} is None: did the function return its result?")
    # arrays and tensors (on any device, PyTorch's shape-only "meta" device included) by their shape attribute
    shape = getattr(actual, "shape", None)
    shape = tuple(np.asarray(actual).shape if shape is None else shape)
    if shape != tuple(expected_shape):
        raise AssertionError(f"{name} has shape {shape}, expected {tuple(expected_shape)}")


def assert_close(actual, expected, name: str = "result", rtol: float = 1e-6, atol: float = 1e-8,
                 hint: str = "") -> None:
    """Fail with the worst element, its index and relative error when actual and expected differ.

    Shapes must match exactly (no broadcasting). NaN or inf in the answer is reported as such.
    """
    verify()
    if actual is None:
        raise AssertionError(f"{name} is None: did the function return its result?" + (f" {hint}" if hint else ""))
    try:
        actual_arr = np.asarray(_plain(actual), dtype=np.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise AssertionError(f"{name} should be numeric, got {type(actual).__name__}: {exc}") from None
    expected_arr = np.asarray(_plain(expected), dtype=np.float64)
    if actual_arr.shape != expected_arr.shape:
        raise AssertionError(f"{name} has shape {actual_arr.shape}, expected {expected_arr.shape}"
                             + (f". {hint}" if hint else ""))
    finite = np.isfinite(actual_arr)
    if not finite.all():
        idx = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise AssertionError(f"{name} contains NaN or inf (first at index {idx})" + (f". {hint}" if hint else ""))
    err = np.abs(actual_arr - expected_arr)
    bound = atol + rtol * np.abs(expected_arr)
    if actual_arr.size and np.any(err > bound):
        idx = np.unravel_index(int(np.argmax(err - bound)), err.shape)
        rel = err[idx] / max(abs(expected_arr[idx]), 1e-300)
        where = tuple(int(i) for i in idx)
        bad = int(np.count_nonzero(err > bound))
        raise AssertionError(
            f"{name} is wrong at {bad} of {err.size} entries; worst at index {where}: got "
            f"{actual_arr[idx]:.6g}, expected {expected_arr[idx]:.6g} (relative error {rel:.2g}, tolerance {rtol:g})"
            + (f". {hint}" if hint else ""))


def assert_scalar(actual, expected, name: str = "result", rtol: float = 1e-9, hint: str = "") -> None:
    """For counts and sizes: the exact value (or within rtol for floats), with a clear message."""
    verify()
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
    verify()
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


# --------------------------------------------------------------------------------- disabling references
# Implementations a student answer must not delegate to. coursekit's are Python functions: swapping their code
# object disables every reference to them, including names imported before the test ran. torch's are builtins,
# so those are replaced on their module for the duration.
_COURSEKIT_REFERENCES = [
    ("coursekit.nn.functional.conv", ["conv2d_forward", "conv2d_backward", "conv2d_forward_naive",
                                      "conv2d_backward_naive", "conv_transpose2d_forward",
                                      "conv_transpose2d_backward"]),
    ("coursekit.nn.functional.pooling", ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
                                         "avg_pool2d_backward"]),
    ("coursekit.nn.functional.batchnorm", ["batchnorm_forward", "batchnorm_backward", "batchnorm_backward_graph",
                                           "batchnorm2d_forward", "batchnorm2d_backward",
                                           "batchnorm2d_backward_graph"]),
    ("coursekit.arithmetic", ["conv_output_size", "conv_transpose_output_size", "pool_output_size", "conv_params",
                              "conv_macs", "receptive_field", "summary"]),
]
# coursekit's PyTorch side: disabled (and watched) once torch is imported, so NumPy-only assignments never load
# torch. Dotted names reach methods, whose code is swapped the same way.
_COURSEKIT_TORCH_REFERENCES = [
    ("coursekit.models.unet", ["center_crop", "UNet.forward", "UNet.output_size", "Up.forward"]),
    ("coursekit.models.blocks", ["DoubleConv.forward"]),
    ("coursekit.metrics", ["dice_score", "dice_from_logits", "iou"]),
    ("coursekit.nn.functional.losses", ["dice_loss"]),
]
_TORCH_REFERENCES = [
    ("torch.nn.functional", ["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "batch_norm"]),
    ("torch", ["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "batch_norm"]),
]


def _unavailable(*args, **kwargs):
    # this code also runs as the __code__ of functions in other modules, with their globals: reach the
    # exception class through a builtin, not through a global name
    grading = __import__("coursekit.grading", fromlist=["ReferenceUnavailable"])
    raise grading.ReferenceUnavailable("this test runs your code with coursekit's and torch's own "
                                       "implementations disabled: write the computation yourself instead of "
                                       "calling the library")


def _lookup(module, dotted: str):
    obj = module
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
    return obj


def _references(with_torch_side: bool):
    """(qualified name, function) for every coursekit reference in force."""
    groups = list(_COURSEKIT_REFERENCES)
    if with_torch_side:
        groups += _COURSEKIT_TORCH_REFERENCES
    for module_name, names in groups:
        module = importlib.import_module(module_name)
        for name in names:
            yield f"{module_name}.{name}", _lookup(module, name)


@contextlib.contextmanager
def reference_disabled(allow_torch: bool = False):
    """Within this block coursekit's reference implementations raise ReferenceUnavailable, and so do torch's
    conv/pool/batch-norm unless allow_torch (for assignments that build on PyTorch's layers)."""
    swapped, replaced = [], []
    try:
        for _, fn in _references(with_torch_side=allow_torch or "torch" in sys.modules):
            if isinstance(fn, types.FunctionType):
                swapped.append((fn, fn.__code__))
                fn.__code__ = _unavailable.__code__
        for module_name, names in ([] if allow_torch else _TORCH_REFERENCES):
            module = sys.modules.get(module_name)
            if module is None:
                continue
            for name in names:
                if hasattr(module, name):
                    replaced.append((module, name, getattr(module, name)))
                    setattr(module, name, _unavailable)
        yield
    finally:
        for fn, code in swapped:
            fn.__code__ = code
        for module, name, original in replaced:
            setattr(module, name, original)


# ------------------------------------------------------------------------------------------- integrity
_WATCHED_NUMPY = ["allclose", "isclose", "array_equal", "abs", "max", "sum", "asarray", "isfinite", "argmax",
                  "unravel_index", "count_nonzero", "float64", "ndarray"]
_WATCHED_TESTING = ["assert_allclose", "assert_array_equal", "assert_array_almost_equal", "assert_equal"]
_WATCHED_BUILTINS = ["abs", "max", "min", "isinstance", "float", "int", "len", "print", "AssertionError",
                     "Exception", "getattr", "hasattr", "type", "tuple", "range", "sum", "__import__"]


class Sentinel:
    """A snapshot of the objects the tests rely on; verify() lists what changed since."""

    def __init__(self):
        self.snapshot = self._take()

    def __repr__(self) -> str:  # shown under the setup cell that installs it
        return f"<coursekit grading sentinel: watching {len(self.snapshot)} objects the tests rely on>"

    @staticmethod
    def _take() -> dict:
        watched = {}
        for name in _WATCHED_NUMPY:
            watched[f"numpy.{name}"] = getattr(np, name, None)
        for name in _WATCHED_TESTING:
            watched[f"numpy.testing.{name}"] = getattr(np.testing, name, None)
        for name in _WATCHED_BUILTINS:
            watched[f"builtins.{name}"] = getattr(builtins, name, None)
        this = sys.modules[__name__]
        for name in __all__:
            obj = getattr(this, name, None)
            watched[f"coursekit.grading.{name}"] = obj
            if isinstance(obj, types.FunctionType):
                watched[f"coursekit.grading.{name}.__code__"] = obj.__code__
        for qualified, fn in _references(with_torch_side="torch" in sys.modules):
            watched[qualified] = fn
            if isinstance(fn, types.FunctionType):
                watched[f"{qualified}.__code__"] = fn.__code__
        watched["numpy module"] = sys.modules.get("numpy")
        watched["coursekit.grading module"] = this
        return watched

    def changes(self) -> list[str]:
        now = self._take()
        return [key for key, value in self.snapshot.items() if now.get(key) is not value]


_sentinel: Sentinel | None = None


def install_sentinel() -> Sentinel:
    """Called by an assignment's first (locked) cell, before any student code runs."""
    global _sentinel
    if _sentinel is None:
        _sentinel = Sentinel()
    return _sentinel


def verify() -> None:
    """Raise TamperingDetected if something the tests rely on was replaced since install_sentinel()."""
    sentinel = _sentinel
    if sentinel is None:
        return
    changed = sentinel.changes()
    if changed:
        raise TamperingDetected("the notebook replaced functions the grader relies on ("
                                + ", ".join(sorted(changed)[:5]) + (", ..." if len(changed) > 5 else "")
                                + "); tests that depend on them score 0. Remove the code that reassigns them.")
