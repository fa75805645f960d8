"""The wire between the student's kernel and the grader: plain data as files, both sides' one definition.

A value travels as the bytes of one ``.npz`` file: its numeric/bool arrays, plus a JSON description of the structure
around them under ``__json__``. Only numeric/bool arrays, Python scalars, str, None and tuples/lists/str-keyed dicts
of those travel; never pickle, never an object with behaviour. ``decode_value`` treats its bytes as hostile (bounded
size and nesting, no pickle, dtype checked before anything is used).

The kernel side (``coursekit.grading.hidden``) writes answers with ``encode_value``; the grader
(``coursekit.course.answers``) reads them with ``decode_value``, and writes the cases the other way round. The file
layout both sides agree on is here too (``case_file``, ``answer_file``, ``record_file``), so neither can drift.
"""

from __future__ import annotations

import hashlib
import io
import json
import re

import numpy as np

__all__ = ["WireError", "encode_value", "decode_value", "GRADING_DIR_ENV", "MAX_VALUE_BYTES", "check_grade_id",
           "CASES", "ANSWERS", "RECORDS", "case_file", "answer_file", "record_file"]

# where the kernel finds its scratch folder's grading area (the only setting that crosses into the kernel)
GRADING_DIR_ENV = "COURSEKIT_GRADING_DIR"
# bounds that keep one answer from filling the scratch disk or the grader's memory
MAX_VALUE_BYTES = 64 << 20
MAX_NODES = 100_000
MAX_DEPTH = 32
_GRADE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

# the grading area: cases/<grade_id>.npz (grader -> kernel), answers/<grade_id>/<case>.npz and
# records/<grade_id>/<sha256(key)[:32]>.npz (kernel -> grader)
CASES, ANSWERS, RECORDS = "cases", "answers", "records"


def check_grade_id(grade_id) -> str:
    """grade_id if it is a plain test-cell id (it becomes a file name on both sides), else ValueError."""
    if not isinstance(grade_id, str) or not _GRADE_ID.match(grade_id):
        raise ValueError(f"grade_id must be a test cell's id (letters, digits, '-', '_', '.'), got {grade_id!r}")
    return grade_id


def case_file(grade_id: str) -> str:
    return f"{check_grade_id(grade_id)}.npz"


def answer_file(index: int) -> str:
    return f"{int(index)}.npz"


def record_file(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32] + ".npz"


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

