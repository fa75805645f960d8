"""Adagrad (Duchi et al., 2011), exactly torch.optim.Adagrad's rule.

    S_t = S_{t-1} + g_t^2                                   (sum of all squared gradients so far)
    p  <- p - lr_t g_t / (sqrt(S_t) + eps),   lr_t = lr / (1 + (t - 1) lr_decay)

Each coordinate's step shrinks with the gradient it has seen, so rarely updated weights keep large steps.
"""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _check_nonnegative

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, weight_decay=0, eps=1e-10, *, lr_decay=0, initial_accumulator_value=0):
        _check_nonnegative(lr, "lr", "learning rate")
        _check_nonnegative(lr_decay, "lr_decay")
        _check_nonnegative(weight_decay, "weight_decay")
        _check_nonnegative(eps, "eps", "epsilon")
        _check_nonnegative(initial_accumulator_value, "initial_accumulator_value")
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, eps=eps, lr_decay=lr_decay,
                                      initial_accumulator_value=initial_accumulator_value))

    def _update(self, group):
        for p, g, state in self._with_grads(group):
            if not state:
                state["step"] = 0
                state["sum"] = np.full_like(p.data, group["initial_accumulator_value"])
            state["step"] += 1
            clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
            state["sum"] += g * g
            p.data -= clr * g / (np.sqrt(state["sum"]) + group["eps"])
