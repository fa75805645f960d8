"""Helpers that nbgrader test cells call, inside the student's kernel.

Hidden tests (graded):

* ``cases(grade_id)`` gives the inputs the grader prepared for a test cell; ``answer(grade_id, fn)`` calls the
  student's code on each and records what comes back as plain data; ``record(grade_id, key, value)`` records one
  named value. Nothing here compares, scores or knows an expected value: the grader's process
  (``coursekit.course.checks``) reads the recorded answers after the notebook ran and decides every grade.
* The wire format: files in the kernel's private scratch folder (``$COURSEKIT_GRADING_DIR``), one ``.npz`` per
  value holding its arrays plus a JSON description of the structure around them. Only numeric/bool arrays, Python
  scalars, str, None and tuples/lists/str-keyed dicts of those travel; never pickle, never objects with behaviour.

Visible self-checks (decide nothing; they help the student read a failure):
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

The sentinel and ``reference_disabled`` only make a visible self-check fail early with a clearer message; no grade
depends on them (a kernel that runs first can defeat any check that runs beside it).
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import importlib
import io
import json
import os
import re
import sys
import types
from pathlib import Path

import numpy as np

__all__ = ["cases", "answer", "record", "encode_value", "decode_value", "WireError", "assert_close", "assert_shape",
           "assert_scalar", "assert_gradient", "rng", "reference_disabled", "ReferenceUnavailable",
           "TamperingDetected", "Sentinel", "verify", "install_sentinel"]


class ReferenceUnavailable(RuntimeError):
    """Raised when a student's function calls an implementation the test has disabled."""


class TamperingDetected(AssertionError):
    """A function the tests rely on was replaced after the notebook started."""


# ------------------------------------------------------------------------------------------ hidden tests
GRADING_DIR_ENV = "COURSEKIT_GRADING_DIR"
# bounds that keep one answer from filling the scratch disk or the grader's memory
MAX_VALUE_BYTES = 64 << 20
MAX_NODES = 100_000
MAX_DEPTH = 32
_GRADE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class WireError(ValueError):
    """A value that cannot travel between the kernel and the grader as plain data."""


def _to_wire(value, arrays: dict, depth: int = 0, count: list | None = None):
    """value as JSON-able structure; arrays go into ``arrays`` and are referenced by name."""
    count = count if count is not None else [0]
    count[0] += 1
    if count[0] > MAX_NODES or depth > MAX_DEPTH:
        raise WireError(f"the value is too large or too deeply nested (more than {MAX_NODES} items or "
                        f"{MAX_DEPTH} levels)")
    # subclasses of the built-in types are reduced to the built-in value through the base type's own method, so
    # an overridden __eq__, __float__ or __str__ never travels
    if value is None or type(value) is bool:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        value = int.__int__(value)
        return value if -(1 << 63) <= value < (1 << 64) else float(value)
    if isinstance(value, float):
        value = float.__float__(value)
        return {"__float__": repr(value)} if value != value or value in (float("inf"), float("-inf")) else value
    if isinstance(value, np.generic):
        return _to_wire(value.item(), arrays, depth + 1, count) if value.dtype.kind in "biuf" else _reject(value)
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise WireError(f"an array of dtype {value.dtype} cannot be sent to the grader (numbers or bools only)")
        name = f"a{len(arrays)}"
        # a plain ndarray copy (subclasses dropped); 0-d stays 0-d (ascontiguousarray would make it shape (1,))
        arrays[name] = np.array(value, order="C", subok=False, copy=True)
        return {"__array__": name}
    if isinstance(value, tuple):
        return {"__tuple__": [_to_wire(v, arrays, depth + 1, count) for v in value]}
    if isinstance(value, list):
        return [_to_wire(v, arrays, depth + 1, count) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise WireError("a dict sent to the grader must have str keys")
        return {"__dict__": {k: _to_wire(v, arrays, depth + 1, count) for k, v in value.items()}}
    return _reject(value)


def _reject(value):
    raise WireError(f"a {type(value).__name__} cannot be sent to the grader: return numbers, arrays (numpy or "
                    "torch), str, None, or tuples/lists/dicts of those")


def _from_wire(node, arrays):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_from_wire(v, arrays) for v in node]
    if isinstance(node, dict) and len(node) == 1:
        (tag, inner), = node.items()
        if tag == "__array__" and isinstance(inner, str) and inner in arrays:
            return arrays[inner]
        if tag == "__tuple__" and isinstance(inner, list):
            return tuple(_from_wire(v, arrays) for v in inner)
        if tag == "__dict__" and isinstance(inner, dict):
            return {str(k): _from_wire(v, arrays) for k, v in inner.items()}
        if tag == "__float__" and inner in ("nan", "inf", "-inf"):
            return float(inner)
    raise WireError("malformed value on the wire")


def encode_value(value) -> bytes:
    """One value as the bytes of an .npz file (its arrays, plus its structure as JSON under '__json__')."""
    arrays: dict = {}
    structure = json.dumps(_to_wire(value, arrays), allow_nan=False).encode()
    size = len(structure) + sum(a.nbytes for a in arrays.values())
    if size > MAX_VALUE_BYTES:
        raise WireError(f"the value takes {size:,} bytes, more than the {MAX_VALUE_BYTES:,} a test may return")
    buffer = io.BytesIO()
    np.savez(buffer, __json__=np.frombuffer(structure, dtype=np.uint8), **arrays)
    return buffer.getvalue()


def decode_value(data: bytes):
    """The inverse of encode_value, for untrusted bytes: no pickle, numeric/bool arrays only, bounded size."""
    if len(data) > MAX_VALUE_BYTES + (1 << 20):
        raise WireError("value too large")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            if len(npz.files) > MAX_NODES + 1:
                raise WireError("too many arrays")
            # the sizes the archive declares, checked before anything is unpacked (a small file can claim a lot)
            if sum(member.file_size for member in npz.zip.infolist()) > MAX_VALUE_BYTES + (1 << 20):
                raise WireError("value too large")
            arrays = {}
            for name in npz.files:
                array = npz[name]
                if array.dtype.kind not in "biuf":
                    raise WireError(f"array {name!r} has dtype {array.dtype}")
                arrays[name] = array
    except WireError:
        raise
    except Exception as exc:  # a corrupt or truncated file: zip, header and size errors of every kind
        raise WireError(f"unreadable value ({type(exc).__name__})") from None
    structure = arrays.pop("__json__", None)
    if structure is None or structure.dtype != np.uint8 or structure.ndim != 1:
        raise WireError("value without its structure")
    try:
        node = json.loads(structure.tobytes().decode())
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WireError("malformed structure") from None
    return _from_wire(node, arrays)


def _grading_dir() -> Path | None:
    folder = os.environ.get(GRADING_DIR_ENV)
    return Path(folder) if folder else None


def _check_grade_id(grade_id) -> str:
    if not isinstance(grade_id, str) or not _GRADE_ID.match(grade_id):
        raise ValueError(f"grade_id must be a test cell's id (letters, digits, '-', '_', '.'), got {grade_id!r}")
    return grade_id


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)  # a kernel killed mid-write leaves no half answer behind


def cases(grade_id: str) -> list[dict]:
    """The inputs the grader prepared for this test cell: a list of dicts of name -> value.

    Raises RuntimeError outside grading: hidden cases exist only while the autograder runs the notebook.
    """
    _check_grade_id(grade_id)
    folder = _grading_dir()
    path = folder / "cases" / f"{grade_id}.npz" if folder else None
    if path is None or not path.is_file():
        raise RuntimeError(f"hidden test cases for {grade_id!r} exist only while the notebook is being graded")
    found = decode_value(path.read_bytes())
    if not isinstance(found, list) or not all(isinstance(c, dict) for c in found):
        raise RuntimeError(f"the hidden cases for {grade_id!r} are malformed")
    return found


def answer(grade_id: str, fn) -> None:
    """Call fn(case) on every case of this test cell and record each return value (as plain data) or the
    exception it raised. Never raises: a bug on one case does not stop the others. Outside grading it does
    nothing (there are no hidden cases to answer)."""
    try:
        all_cases = cases(grade_id)
        folder = _grading_dir() / "answers" / grade_id
    except (RuntimeError, ValueError, WireError, OSError):
        return
    for index, case in enumerate(all_cases):
        try:
            try:
                data = encode_value({"value": fn(case)})
            except KeyboardInterrupt:  # the grader's interrupt (time limit): stop answering
                raise
            except BaseException as exc:  # noqa: BLE001 - a student's bug, sys.exit() included, is an answer
                data = encode_value({"raised": (type(exc).__name__, str(exc)[:2000])})
            _write_atomic(folder / f"{index}.npz", data)
        except KeyboardInterrupt:
            raise
        except BaseException:  # noqa: BLE001 - e.g. the scratch disk is full: this case stays Missing
            continue


def record(grade_id: str, key: str, value) -> None:
    """Record one named plain-data value for the grader (predictions, a parameter count, a history ...).

    Raises ValueError (bad grade_id or key) or WireError (a value that is not plain data) so the mistake shows.
    Outside grading it does nothing.
    """
    _check_grade_id(grade_id)
    if not isinstance(key, str) or not 0 < len(key) <= 200:
        raise ValueError(f"key must be a non-empty str of at most 200 characters, got {key!r}")
    folder = _grading_dir()
    if folder is None or not (folder / "cases").is_dir():
        return
    data = encode_value({"key": key, "value": value})
    name = hashlib.sha256(key.encode()).hexdigest()[:32]
    _write_atomic(folder / "records" / grade_id / f"{name}.npz", data)


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
