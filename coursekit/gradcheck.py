"""Numerical gradients and how to compare them with analytic ones.

The centred difference ``(f(x + h) - f(x - h)) / 2h`` has error O(h^2), against O(h) for the one-sided
difference, which is why every check here uses it. Run checks in float64: in float32 the rounding error of f
swamps the difference for any h small enough to be accurate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["numerical_gradient", "rel_error", "check_gradient", "check_layer_gradients", "GradientCheckError"]


class GradientCheckError(AssertionError):
    """An analytic gradient disagrees with the numerical one."""


def rel_error(a, b, eps: float = 1e-12) -> float:
    """Largest elementwise relative error max |a - b| / max(|a| + |b|, eps); 0 means identical.

    Raises ValueError when the shapes differ, because a broadcast comparison would hide a real bug.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs arrays of the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), eps)))


def numerical_gradient(f: Callable, x: np.ndarray, df=None, h: float = 1e-5, indices=None) -> np.ndarray:
    """Centred-difference gradient of f at x, modifying x in place and restoring it.

    f: a function of x returning a scalar (df None) or an array (then df, the upstream gradient of the same
       shape as f(x), gives the gradient of sum(f(x) * df))
    x: float array, perturbed in place
    indices: optional iterable of index tuples; only those entries are computed (the rest stay 0)
    Returns: array like x
    """
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise ValueError(f"x must be a float ndarray perturbed in place, got {type(x).__name__} "
                         f"{getattr(x, 'dtype', '')}")
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.ndindex(*x.shape) if indices is None else indices
    for idx in it:
        old = x[idx]
        x[idx] = old + h
        plus = np.asarray(f(x), dtype=np.float64)
        x[idx] = old - h
        minus = np.asarray(f(x), dtype=np.float64)
        x[idx] = old
        if df is None:
            if plus.size != 1:
                raise ValueError(f"f returned shape {plus.shape}; pass df, the upstream gradient, for array outputs")
            grad[idx] = (plus.item() - minus.item()) / (2 * h)
        else:
            if plus.shape != np.shape(df):
                raise ValueError(f"df has shape {np.shape(df)} but f(x) has shape {plus.shape}")
            grad[idx] = np.sum((plus - minus) * df) / (2 * h)
    return grad


def check_gradient(f: Callable, x: np.ndarray, analytic, df=None, *, name: str = "x", h: float = 1e-6,
                   tol: float = 1e-6, samples: int | None = 40, atol: float = 1e-9, rng=0) -> float:
    """Compare an analytic gradient with the numerical one on sampled entries; raise naming the worst one.

    samples: how many entries to check (None checks all of them)
    atol: entries where both gradients are below atol in magnitude are compared absolutely, since a relative
          error between two numbers that are both zero up to rounding means nothing
    Returns: the worst relative error found
    """
    analytic = np.asarray(analytic)
    if analytic.shape != x.shape:
        raise ValueError(f"analytic gradient for {name} has shape {analytic.shape}, expected {x.shape}")
    if samples is None or samples >= x.size:
        indices = list(np.ndindex(*x.shape))
    else:
        gen = np.random.default_rng(rng)
        flat = gen.choice(x.size, size=samples, replace=False)
        indices = [np.unravel_index(i, x.shape) for i in flat]
    numeric = numerical_gradient(f, x, df, h=h, indices=indices)
    worst, worst_idx = 0.0, None
    for idx in indices:
        a, n = float(analytic[idx]), float(numeric[idx])
        if abs(a) < atol and abs(n) < atol:
            continue
        err = abs(a - n) / max(abs(a) + abs(n), 1e-12)
        if err > worst:
            worst, worst_idx = err, idx
    if worst > tol:
        raise GradientCheckError(
            f"gradient of {name} is wrong at index {tuple(int(i) for i in worst_idx)}: analytic "
            f"{float(analytic[worst_idx]):.6g}, numerical {float(numeric[worst_idx]):.6g}, relative error "
            f"{worst:.3g} > {tol:g}"
        )
    return worst


def check_layer_gradients(forward: Callable, backward: Callable, inputs: Sequence[np.ndarray], *,
                          names: Sequence[str] | None = None, rng=0, **kwargs) -> dict:
    """Gradient-check a forward/backward pair with respect to each of its array inputs.

    forward(*inputs) -> (out, cache); backward(dout, cache) -> one gradient per input, in order.
    A random upstream gradient dout makes every output element matter. Inputs that are None are skipped.
    Returns: {name: worst relative error}; raises GradientCheckError on the first failure.
    """
    inputs = [None if a is None else np.asarray(a, dtype=np.float64) for a in inputs]
    names = list(names) if names is not None else [f"input{i}" for i in range(len(inputs))]
    out, cache = forward(*inputs)
    dout = np.random.default_rng(rng).standard_normal(np.shape(out))
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    errors = {}
    for i, (x, g, name) in enumerate(zip(inputs, grads, names)):
        if x is None or g is None:
            continue

        def f(xi, i=i):
            args = list(inputs)
            args[i] = xi
            return forward(*args)[0]

        errors[name] = check_gradient(f, x, g, dout, name=name, rng=rng, **kwargs)
    return errors
