"""Adam (Kingma & Ba, 2015), exactly torch.optim.Adam's rule (L2 weight decay added to the gradient).

    m_t = b1 m_{t-1} + (1 - b1) g_t                 (first moment: a running mean of gradients)
    v_t = b2 v_{t-1} + (1 - b2) g_t^2               (second moment: a running mean of squared gradients)
    p  <- p - lr / (1 - b1^t) * m_t / (sqrt(v_t) / sqrt(1 - b2^t) + eps)

The (1 - b^t) factors undo the bias of moments that start at zero.
"""

from __future__ import annotations

import math

import numpy as np

from .optimizer import Optimizer, _check_nonnegative

__all__ = ["Adam"]


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False):
        _check_nonnegative(lr, "lr", "learning rate")
        _check_nonnegative(eps, "eps", "epsilon")
        _check_nonnegative(weight_decay, "weight_decay")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta} (must be in [0, 1))")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    def _update(self, group):
        (beta1, beta2), lr, eps = group["betas"], group["lr"], group["eps"]
        for p, g, state in self._with_grads(group):
            if not state:
                state["step"] = 0
                state["exp_avg"] = np.zeros_like(p.data)
                state["exp_avg_sq"] = np.zeros_like(p.data)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = np.zeros_like(p.data)
            state["step"] += 1
            t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
            m += (1 - beta1) * (g - m)          # torch's lerp: m + (1 - b1)(g - m) = b1 m + (1 - b1) g
            v *= beta2
            v += (1 - beta2) * g * g
            if group["amsgrad"]:
                np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                v = state["max_exp_avg_sq"]
            step_size = lr / (1 - beta1 ** t)
            denom = np.sqrt(v) / math.sqrt(1 - beta2 ** t) + eps
            p.data -= step_size * m / denom
