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
* ``rng(test_id)`` gives each test its own seeded generator, so a visible check draws the same values every run.

Reference implementations are not disabled or watched from here: while grading they are simply absent from the
kernel's copy of coursekit (``coursekit.course.view``), since a kernel that runs first can defeat any check that
runs beside it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from pathlib import Path

import numpy as np

__all__ = ["cases", "answer", "record", "run_with_weights", "encode_value", "decode_value", "WireError",
           "assert_close", "assert_shape", "assert_scalar", "assert_gradient", "rng"]


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


# ------------------------------------------------------------------------------------- networks, by their trace
# the tensors of each layer kind the grader sends, in this order
LAYER_TENSORS = {"Conv2d": ("weight", "bias"), "ConvTranspose2d": ("weight", "bias"),
                 "BatchNorm2d": ("weight", "bias", "running_mean", "running_var")}


def _has_own_parameters(module) -> bool:
    return next(module.parameters(recurse=False), None) is not None


def layers_in_call_order(model, x) -> list:
    """The modules holding parameters, in the order model(x) first calls them."""
    import torch

    order, handles = [], []

    def first_call(module, args):
        if not any(module is seen for seen in order):
            order.append(module)

    for module in model.modules():
        if _has_own_parameters(module):
            handles.append(module.register_forward_pre_hook(first_call))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return order


def _mismatch(modules, layers) -> str | None:
    """Why these modules cannot take the grader's layers, one for one, or None."""
    import torch

    if len(modules) != len(layers):
        return f"{len(modules)} layers with parameters, expected {len(layers)}"
    for k, (module, layer) in enumerate(zip(modules, layers)):
        kind = getattr(torch.nn, layer["type"])
        if not isinstance(module, kind):
            return f"layer {k} is a {type(module).__name__}, expected a {layer['type']}"
        for name in LAYER_TENSORS[layer["type"]]:
            tensor, want = getattr(module, name, None), layer.get(name)
            if want is None:
                continue  # a bias the specification does not have is set to zero below
            if tensor is None or tuple(tensor.shape) != tuple(np.shape(want)):
                got = None if tensor is None else tuple(tensor.shape)
                return f"layer {k} ({layer['type']}) has {name} of shape {got}, expected {tuple(np.shape(want))}"
        own = {name for name, _ in module.named_parameters(recurse=False)}
        extra = own - set(LAYER_TENSORS[layer["type"]])
        if extra:
            return f"layer {k} ({layer['type']}) has parameters the layer does not have: {sorted(extra)}"
    return None


def load_layers(modules, layers) -> None:
    """Copy the grader's layers into modules that fit them (see _mismatch); a tensor the layer does not have (a
    bias the specification lacks) becomes zero."""
    import torch

    with torch.no_grad():
        for module, layer in zip(modules, layers):
            for name in LAYER_TENSORS[layer["type"]]:
                tensor, want = getattr(module, name, None), layer.get(name)
                if tensor is not None:
                    tensor.copy_(torch.zeros_like(tensor) if want is None else torch.as_tensor(want))


def run_with_weights(model, x, layers: list, train: bool = False, grad_output=None) -> dict:
    """Run model on x with the grader's weights and return what each layer received and gave, as plain data.

    The grader cannot look inside the student's network, so it sends the weights of every layer with parameters
    (``layers``: dicts with "type" (Conv2d, ConvTranspose2d, BatchNorm2d) and that layer's tensors, see
    LAYER_TENSORS) in the order the specified network uses them. They are matched with the model's layers in the
    order its forward pass first calls them (or, failing that, the order they were created), whatever the
    attributes are called, and the model runs in float64. A bias the specification does not have is set to zero.

    Returns {"problem": why the layers do not match} or {"parameters": the model's parameter count, "inputs" and
    "outputs": each layer's input and output, "out": the model's output}, plus with ``grad_output`` (an array
    shaped like the output) "grad_x" and "grads" (per layer, the gradient of each tensor sent, None where it got
    none) of sum(out * grad_output). The grader recomputes every one of these with its own network.
    """
    import torch

    model = model.double()
    x = torch.as_tensor(np.asarray(x, dtype=np.float64))
    parameters = int(sum(p.numel() for p in model.parameters()))
    candidates = [layers_in_call_order(model.eval(), x),
                  [m for m in model.modules() if _has_own_parameters(m)]]
    problems = [_mismatch(modules, layers) for modules in candidates]
    if problems[0] and problems[1]:
        return {"problem": f"in the order your forward pass calls them: {problems[0]}", "parameters": parameters}
    modules = candidates[0] if problems[0] is None else candidates[1]
    load_layers(modules, layers)
    seen = {id(m): k for k, m in enumerate(modules)}
    inputs, outputs = [None] * len(modules), [None] * len(modules)

    def keep(module, args, output):  # clones: an in-place ReLU later would change what was recorded
        k = seen[id(module)]
        if inputs[k] is None and args and isinstance(args[0], torch.Tensor) and isinstance(output, torch.Tensor):
            inputs[k], outputs[k] = args[0].detach().clone(), output.detach().clone()

    handles = [m.register_forward_hook(keep) for m in modules]
    try:
        model.train(train)
        x.requires_grad_(grad_output is not None)
        out = model(x)
    finally:
        for handle in handles:
            handle.remove()
    result = {"parameters": parameters, "inputs": inputs, "outputs": outputs, "out": out.detach()}
    if grad_output is not None:
        grad_output = torch.as_tensor(np.asarray(grad_output, dtype=np.float64))
        if tuple(out.shape) != tuple(grad_output.shape):
            raise ValueError(f"the output has shape {tuple(out.shape)}, expected {tuple(grad_output.shape)}")
        (out * grad_output).sum().backward()
        result["grad_x"] = x.grad
        result["grads"] = [[None if getattr(m, name, None) is None or getattr(m, name).grad is None
                            else getattr(m, name).grad for name in ("weight", "bias") if layer.get(name) is not None]
                           for m, layer in zip(modules, layers)]
    return result


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
