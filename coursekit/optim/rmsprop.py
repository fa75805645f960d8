"""RMSprop (Hinton's lecture 6e), exactly torch.optim.RMSprop's rule.

    s_t = alpha s_{t-1} + (1 - alpha) g_t^2                 (running mean of squared gradients)
    step = g_t / (sqrt(s_t) + eps)                          (centered: subtract the squared running mean of g)
    p <- p - lr step,  or with momentum mu:  b_t = mu b_{t-1} + step;  p <- p - lr b_t
"""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _check_nonnegative

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False):
        _check_nonnegative(lr, "lr", "learning rate")
        _check_nonnegative(eps, "eps", "epsilon")
        _check_nonnegative(momentum, "momentum")
        _check_nonnegative(weight_decay, "weight_decay")
        _check_nonnegative(alpha, "alpha")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def _update(self, group):
        alpha, eps, lr, mu = group["alpha"], group["eps"], group["lr"], group["momentum"]
        for p, g, state in self._with_grads(group):
            if not state:
                state["step"] = 0
                state["square_avg"] = np.zeros_like(p.data)
                if mu > 0:
                    state["momentum_buffer"] = np.zeros_like(p.data)
                if group["centered"]:
                    state["grad_avg"] = np.zeros_like(p.data)
            state["step"] += 1
            s = state["square_avg"]
            s *= alpha
            s += (1 - alpha) * g * g
            if group["centered"]:
                ga = state["grad_avg"]
                ga += (1 - alpha) * (g - ga)
                avg = np.sqrt(s - ga * ga) + eps
            else:
                avg = np.sqrt(s) + eps
            if mu > 0:
                buf = state["momentum_buffer"]
                buf *= mu
                buf += g / avg
                p.data -= lr * buf
            else:
                p.data -= lr * g / avg
