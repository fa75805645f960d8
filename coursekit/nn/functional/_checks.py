"""Argument checks shared by every forward pass.

Each public forward validates its inputs once, here, so that a student who passes a (C, H, W) image
where a (N, C, H, W) batch was expected reads what went wrong instead of a broadcasting surprise ten
lines later.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_array(x, name: str, ndim: int | tuple[int, ...] | None = None, layout: str = "", *,
             allow_bool: bool = False) -> np.ndarray:
    """Return ``x`` as a float32 or float64 ndarray by the dtype rules of the package docstring, checking its rank.

    layout: the expected layout for the message, e.g. ``"(N, C, H, W)"``.
    allow_bool: accept a boolean array as 0.0 / 1.0 (loss targets and masks; a layer's input must be numbers).
    Raises ValueError naming ``name`` for complex, non-numeric (strings, objects, dates) or ragged input.
    """
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as exc:  # ragged nested lists: numpy refuses to build an array
            raise ValueError(f"{name} must be a rectangular array of numbers, got a {type(x).__name__} that numpy "
                             f"cannot make one array of ({exc})") from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            hint = f" {layout}" if layout else ""
            raise ValueError(f"{name} must be a {want}-d array{hint}, got shape {x.shape}")
    return x.astype(compute_dtype(x.dtype, name, allow_bool), copy=False)


def compute_dtype(dtype, name: str, allow_bool: bool = False) -> np.dtype:
    """The dtype an argument of this dtype is computed in (the rules of the package docstring), or ValueError."""
    dtype = np.dtype(dtype)
    if dtype in (np.float32, np.float64):
        return dtype
    if dtype.kind == "f":  # float16 is too coarse for gradient checks and slow in numpy; extended precision is rare
        return np.dtype(np.float32 if dtype.itemsize < 4 else np.float64)
    if dtype.kind in "iu":
        return np.dtype(np.float64)  # exact for every integer up to 2**53, e.g. uint8 pixels or int64 labels
    if dtype.kind == "b":
        if allow_bool:
            return np.dtype(np.float64)
        raise ValueError(f"{name} is a boolean array; layers take numbers: pass {name}.astype(np.float32) if you "
                         f"mean 0.0 and 1.0")
    if dtype.kind == "c":
        raise ValueError(f"{name} is complex ({dtype}); coursekit computes with real numbers only: pass "
                         f"{name}.real or np.abs({name})")
    raise ValueError(f"{name} must hold numbers, got dtype {dtype} ({_KIND_NAMES.get(dtype.kind, 'not numbers')}): "
                     f"convert it with np.asarray({name}, dtype=np.float64) first")


_KIND_NAMES = {"O": "Python objects", "U": "strings", "S": "bytes", "V": "raw records", "M": "dates", "m": "time spans"}


def nhwc_hint(x_shape, expected: int, name: str = "x") -> str:
    """A sentence for a channel mismatch when the last axis of a 4-d ``x`` has the channel count expected: the
    image is probably channels-last (NHWC, as PIL, matplotlib and TensorFlow store it), while coursekit is NCHW."""
    if len(x_shape) == 4 and x_shape[1] != expected and x_shape[-1] == expected:
        return (f"; {name}'s last axis has {expected}: is {name} NHWC (N, H, W, C)? coursekit expects NCHW "
                f"(N, C, H, W): pass {name}.transpose(0, 3, 1, 2)")
    return ""


def pair(value, name: str, minimum: int = 0) -> tuple[int, int]:
    """Normalise an int-or-pair hyper-parameter (kernel_size, stride, ...) to a pair of ints."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        result = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value
    ):
        result = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(result) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return result


def check_finite(x: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf); shape {x.shape}")


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}")


def check_vector(v, name: str, length: int, what: str) -> np.ndarray | None:
    """A per-channel vector (bias, gamma, running_mean ...) of the given length, or None."""
    if v is None:
        return None
    v = as_array(v, name)
    if v.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},) to match {what}, got {v.shape}")
    return v


def result_dtype(*arrays) -> np.dtype:
    return np.result_type(*[a for a in arrays if a is not None])
