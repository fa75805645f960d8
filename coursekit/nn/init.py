"""Weight initialisation: He (Kaiming) and Xavier (Glorot), with PyTorch's names and formulas.

He et al. (2015) keep the variance of ReLU activations constant from layer to layer with Var(w) = 2 / fan_in;
Glorot & Bengio (2010) balance forward and backward signals with Var(w) = 2 / (fan_in + fan_out).
``fan_in`` of a conv weight (F, C, KH, KW) is C*KH*KW, its ``fan_out`` F*KH*KW.

Every function fills the array in place and returns it. Randomness comes from ``rng`` when given, otherwise from
this module's generator, which ``manual_seed`` resets.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["manual_seed", "calculate_gain", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
           "xavier_normal_", "uniform_", "normal_", "zeros_", "ones_", "fan_in_and_fan_out"]

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Make every later initialisation reproducible."""
    global _generator
    _generator = np.random.default_rng(seed)


def _rng(rng):
    return _generator if rng is None else rng


def fan_in_and_fan_out(shape) -> tuple[int, int]:
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a weight with at least 2 dimensions, got shape {tuple(shape)}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor that keeps activations' variance at 1 through the given non-linearity (torch's table)."""
    if nonlinearity in ("linear", "conv2d", "conv_transpose2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def uniform_(array, a=0.0, b=1.0, rng=None):
    array[...] = _rng(rng).uniform(a, b, size=array.shape)
    return array


def normal_(array, mean=0.0, std=1.0, rng=None):
    array[...] = _rng(rng).normal(mean, std, size=array.shape)
    return array


def zeros_(array):
    array[...] = 0
    return array


def ones_(array):
    array[...] = 1
    return array


def _fan(shape, mode):
    fan_in, fan_out = fan_in_and_fan_out(shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform_(array, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(array.shape, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(array, -bound, bound, rng)


def kaiming_normal_(array, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """N(0, std^2) with std = gain / sqrt(fan); for ReLU, Var(w) = 2 / fan_in (He et al., 2015)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(array.shape, mode))
    return normal_(array, 0.0, std, rng)


def xavier_uniform_(array, gain=1.0, rng=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = fan_in_and_fan_out(array.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(array, -bound, bound, rng)


def xavier_normal_(array, gain=1.0, rng=None):
    fan_in, fan_out = fan_in_and_fan_out(array.shape)
    return normal_(array, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)
