"""Learning-rate schedules, with torch.optim.lr_scheduler's protocol.

Create the schedule after the optimizer and call ``scheduler.step()`` once per epoch (or per iteration, as the
slides' "every 10K iterations multiply by 0.8" does) after ``optimizer.step()``. Each schedule sets every
group's lr to a closed-form function of t = the number of ``step()`` calls so far:

    StepLR             lr0 * gamma^floor(t / step_size)
    ExponentialLR      lr0 * gamma^t  (= lr0 * exp(-k t) with gamma = exp(-k): ExponentialLR.with_rate)
    InverseTimeLR      lr0 / (1 + t / kappa)
    CosineAnnealingLR  eta_min + (lr0 - eta_min) (1 + cos(pi t / T_max)) / 2
"""

from __future__ import annotations

import math
import numbers

from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "InverseTimeLR", "CosineAnnealingLR"]


class LRScheduler:
    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"{type(self).__name__} needs a coursekit Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()  # as torch: the constructor sets the lr for t = last_epoch + 1

    def lr_at(self, base_lr: float, t: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base, self.last_epoch)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)


def _positive(value, name):
    if not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return value


class StepLR(LRScheduler):
    """Multiply the lr by gamma every step_size steps."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if not isinstance(step_size, numbers.Integral) or step_size < 1:
            raise ValueError(f"step_size must be a positive int, got {step_size!r}")
        self.step_size, self.gamma = step_size, _positive(gamma, "gamma")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, t):
        return base_lr * self.gamma ** (t // self.step_size)


class ExponentialLR(LRScheduler):
    """Multiply the lr by gamma every step: lr0 * gamma^t."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = _positive(gamma, "gamma")
        super().__init__(optimizer, last_epoch)

    @classmethod
    def with_rate(cls, optimizer, k: float, last_epoch=-1) -> ExponentialLR:
        """The slides' form lr0 * exp(-k t)."""
        if not isinstance(k, numbers.Real) or k < 0:
            raise ValueError(f"decay rate k must be >= 0, got {k!r}")
        return cls(optimizer, math.exp(-k), last_epoch)

    def lr_at(self, base_lr, t):
        return base_lr * self.gamma ** t


class InverseTimeLR(LRScheduler):
    """The slides' 1/t decay: lr0 / (1 + t / kappa)."""

    def __init__(self, optimizer, kappa, last_epoch=-1):
        self.kappa = _positive(kappa, "kappa")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, t):
        return base_lr / (1 + t / self.kappa)


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from lr0 down to eta_min over T_max steps (Loshchilov & Hutter, 2017, without restarts)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):  # noqa: N803 - torch's name
        if not isinstance(T_max, numbers.Integral) or T_max < 1:
            raise ValueError(f"T_max must be a positive int, got {T_max!r}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, t):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2
