"""The Optimizer base class: parameter groups, per-parameter state, zero_grad and state_dict, as torch.optim.

A subclass implements ``_update(group)``, the update rule for one group of parameters; everything else
(groups, validation, saving and loading) lives here.
"""

from __future__ import annotations

import copy
import numbers

import numpy as np

from ..nn.module import Parameter

__all__ = ["Optimizer"]


def _check_nonnegative(value, name: str, what: str | None = None) -> None:
    if not isinstance(value, numbers.Real) or not value >= 0.0:  # `not >=` also rejects NaN
        raise ValueError(f"Invalid {what or name} value: {value!r} (must be >= 0)")


class Optimizer:
    """Base class. params: an iterable of Parameters, or of dicts {'params': [...], <option>: value}."""

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict[Parameter, dict] = {}
        self.param_groups: list[dict] = []
        if isinstance(params, Parameter):
            raise ValueError("params must be an iterable of Parameters (e.g. model.parameters()), not one Parameter")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list: pass model.parameters() of a model that has "
                             "parameters")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Parameter) else list(params)
        for p in params:
            if not isinstance(p, Parameter):
                raise ValueError(f"optimizer can only optimize Parameters, got {type(p).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._validate(group)
        self.param_groups.append(group)

    def _validate(self, group: dict) -> None:
        _check_nonnegative(group["lr"], "lr", "learning rate")
        if "weight_decay" in group:
            _check_nonnegative(group["weight_decay"], "weight_decay")

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self, closure=None):
        """Apply one update to every parameter that has a gradient. closure re-evaluates the loss (optional)."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            self._update(group)
        return loss

    def _update(self, group: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _with_grads(self, group: dict):
        """(parameter, gradient, state) for each parameter of the group that has a gradient.

        The gradient includes L2 weight decay as torch applies it (added to the gradient, not to the loss);
        state is the parameter's own dict of buffers, empty on its first step.
        """
        weight_decay = group.get("weight_decay", 0)
        for p in group["params"]:
            if p.grad is None:
                continue
            grad = p.grad if weight_decay == 0 else p.grad + weight_decay * p.data
            yield p, grad, self.state.setdefault(p, {})

    # -- saving and loading, with torch's layout: state keyed by the parameter's position
    def state_dict(self) -> dict:
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {index[id(p)]: copy.deepcopy(s) for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"loaded state has {len(groups)} parameter groups, the optimizer {len(self.param_groups)}")
        by_index = {}
        for mine, theirs in zip(self.param_groups, groups):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError("loaded state has a parameter group of a different size")
            by_index.update(zip(theirs["params"], mine["params"]))
            mine.update({k: v for k, v in theirs.items() if k != "params"})
        self.state = {}
        for idx, s in state_dict["state"].items():
            p = by_index[int(idx)]
            restored = copy.deepcopy(s)
            for key, value in restored.items():
                if isinstance(value, np.ndarray) and value.shape != p.data.shape:
                    raise ValueError(f"state {key!r} has shape {value.shape}, its parameter {p.data.shape}")
            self.state[p] = restored

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params")
        lines.append(")")
        return "\n".join(lines)
