"""Run a coursekit forward/backward pair and the same maths in PyTorch, and compare outputs and gradients.

Modelled on tinygrad's helper_test_op: one call per case. Everything runs in float64, where the only
differences left are summation order, so the tolerance is tight (relative 1e-6 by default, scaled to the
largest magnitude so that entries near zero are judged fairly).
"""

from __future__ import annotations

import numpy as np

torch = __import__("pytest").importorskip("torch")

RTOL = 1e-6


def assert_close(ours, ref, name, rtol=RTOL):
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape, f"{name}: shape {ours.shape} != torch's {ref.shape}"
    assert np.array_equal(np.isfinite(ours), np.isfinite(ref)), f"{name}: non-finite entries differ from torch's"
    same = ours == ref  # equal infinities count as agreement
    finite = np.isfinite(ref)
    scale = max(1.0, float(np.abs(ref[finite]).max())) if finite.any() else 1.0
    err = np.where(same, 0.0, np.abs(np.where(finite, ours - ref, 0.0)))
    bound = rtol * np.abs(ref) + rtol * 1e-3 * scale
    if not np.all(err <= bound):
        idx = np.unravel_index(np.argmax(err - bound), err.shape)
        raise AssertionError(f"{name}: mismatch at {idx}: ours {ours[idx]!r}, torch {ref[idx]!r}, "
                             f"max abs error {err.max():.3g} (scale {scale:.3g})")


def compare(forward, backward, torch_fn, inputs, names=None, rng=0, rtol=RTOL, grads=True):
    """forward(*inputs) -> (out, cache); backward(dout, cache) -> grads in input order;
    torch_fn(*tensors) -> tensor. None inputs are passed through as None."""
    names = names or [f"arg{i}" for i in range(len(inputs))]
    out, cache = forward(*inputs)
    tensors = [None if a is None else torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grads)
               for a in inputs]
    ref = torch_fn(*tensors)
    assert_close(out, ref.detach().numpy(), "forward output", rtol)
    if not grads:
        return out
    dout = np.random.default_rng(rng).standard_normal(ref.shape)
    (ref * torch.tensor(dout)).sum().backward()
    got = backward(dout, cache)
    got = got if isinstance(got, tuple) else (got,)
    for g, t, name in zip(got, tensors, names):
        if t is None:
            assert g is None, f"gradient for absent {name} should be None"
            continue
        assert_close(g, t.grad.numpy(), f"gradient of {name}", rtol)
    return out
