"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay.

Exactly torch.optim.SGD's rule. With g the gradient (plus weight_decay * p), mu the momentum, tau the dampening:

    b_1 = g_1;  b_t = mu b_{t-1} + (1 - tau) g_t          (momentum buffer)
    d_t = g_t + mu b_t  (Nesterov)   or   d_t = b_t   (classical momentum)   or   d_t = g_t   (mu = 0)
    p   <- p - lr d_t

The Nesterov form is the "look-ahead" gradient of Sutskever et al. (2013) rewritten so that it needs the gradient
at the current point only.
"""

from __future__ import annotations

from .optimizer import Optimizer, _check_nonnegative

__all__ = ["SGD"]


class SGD(Optimizer):
    def __init__(self, params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        _check_nonnegative(lr, "lr", "learning rate")
        _check_nonnegative(momentum, "momentum")
        _check_nonnegative(weight_decay, "weight_decay")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov))

    def _update(self, group):
        lr, mu, tau = group["lr"], group["momentum"], group["dampening"]
        for p, d, state in self._with_grads(group):
            if mu != 0:
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = d.copy()
                else:
                    buf *= mu
                    buf += (1 - tau) * d
                d = d + mu * buf if group["nesterov"] else buf
            p.data -= lr * d
