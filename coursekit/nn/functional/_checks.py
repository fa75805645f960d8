"""Argument checks shared by every forward pass.

Each public forward validates its inputs once, here, so that a student who passes a (C, H, W) image
where a (N, C, H, W) batch was expected reads what went wrong instead of a broadcasting surprise ten
lines later.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_array(x, name: str, ndim: int | tuple[int, ...] | None = None, layout: str = "") -> np.ndarray:
    """Return ``x`` as a floating ndarray, checking its rank.

    layout: the expected layout for the message, e.g. ``"(N, C, H, W)"``.
    """
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except Exception as exc:  # pragma: no cover - numpy's own message is kept
            raise ValueError(f"{name} must be array-like, got {type(x).__name__}") from exc
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            hint = f" {layout}" if layout else ""
            raise ValueError(f"{name} must be a {want}-d array{hint}, got shape {x.shape}")
    if x.dtype.kind not in "fc":
        x = x.astype(np.float64)
    return x


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
