"""Parameter, Module and Sequential: PyTorch's module API over explicit forward/backward passes.

A Module's ``forward`` keeps the cache of its functional pair; ``backward(dout)`` consumes it, *accumulates* the
parameters' gradients into ``Parameter.grad`` (as autograd does, so ``zero_grad`` is needed between steps) and
returns the gradient with respect to the input.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

import numpy as np

from .functional._checks import as_array

__all__ = ["Parameter", "Module", "Sequential"]


class Parameter:
    """A trainable array: ``.data`` holds the values, ``.grad`` the accumulated gradient (None until a backward)."""

    def __init__(self, data):
        # the dtype rules of coursekit.nn.functional: float32/float64 kept, float16 -> float32, integers -> float64,
        # bool, complex and non-numbers refused
        self.data = np.array(as_array(data, "Parameter data"))
        self.grad: np.ndarray | None = None

    @property
    def shape(self):
        return self.data.shape

    def accumulate(self, grad: np.ndarray) -> None:
        if grad.shape != self.data.shape:
            raise ValueError(f"gradient of shape {grad.shape} does not match parameter of shape {self.data.shape}")
        self.grad = grad.astype(self.data.dtype, copy=True) if self.grad is None else self.grad + grad

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: register Parameters, buffers and child Modules as attributes, as in torch.nn."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"call Module.__init__() in {type(self).__name__}.__init__ before assigning {name}")
        if name in self._buffers:  # reassigning a buffer keeps it a buffer (torch does the same)
            self._buffers[name] = value
            object.__setattr__(self, name, value)
            return
        for store in (self._parameters, self._modules):
            store.pop(name, None)
        if isinstance(value, Parameter) or (value is None and name in ("weight", "bias")):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, array) -> None:
        """State that is saved in state_dict but not trained (batch norm's running statistics)."""
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    # -- running
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def backward(self, dout):
        raise NotImplementedError(f"{type(self).__name__} must implement backward")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def train(self, mode: bool = True):
        object.__setattr__(self, "training", bool(mode))
        for child in self._modules.values():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    # -- traversal
    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def named_modules(self, prefix: str = ""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, p in self._parameters.items():
            if p is not None:
                yield (f"{prefix}.{name}" if prefix else name), p
        for name, child in self._modules.items():
            yield from child.named_parameters(f"{prefix}.{name}" if prefix else name)

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = ""):
        for name, b in self._buffers.items():
            if b is not None:
                yield (f"{prefix}.{name}" if prefix else name), b
        for name, child in self._modules.items():
            yield from child.named_buffers(f"{prefix}.{name}" if prefix else name)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad[...] = 0

    # -- state
    def _state_entries(self):
        """(key, module, store, name) for every parameter, then every buffer, of each module, keyed like torch."""
        for prefix, module in self.named_modules():
            for store in (module._parameters, module._buffers):
                for name, value in store.items():
                    if value is not None:
                        yield (f"{prefix}.{name}" if prefix else name), module, store, name

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed like torch (``features.0.weight``)."""
        state = OrderedDict()
        for key, _, store, name in self._state_entries():
            value = store[name]
            state[key] = value.data.copy() if isinstance(value, Parameter) else np.array(value, copy=True)
        return state

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values in place; shapes must match. Accepts torch tensors too (anything np.asarray takes)."""
        own = {key: (module, store, name) for key, module, store, name in self._state_entries()}
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise ValueError(f"state_dict does not match the model: missing keys {missing}, unexpected keys "
                             f"{unexpected}")
        for key, (module, store, name) in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
            target = store[name].data if isinstance(store[name], Parameter) else store[name]
            if np.shape(target) != value.shape:
                raise ValueError(f"shape mismatch for {key}: the model has {np.shape(target)}, the state_dict "
                                 f"{value.shape}")
            if isinstance(target, np.ndarray):
                target[...] = value
            else:  # a scalar buffer such as num_batches_tracked
                setattr(module, name, type(target)(value))
        return self

    # -- display
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        if self._modules:
            lines[0] = lines[0].rstrip("(") + "("
            for name, child in self._modules.items():
                child_repr = repr(child).replace("\n", "\n  ")
                lines.append(f"  ({name}): {child_repr}")
            lines.append(")")
            return "\n".join(lines)
        return lines[0] + ")"


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse.

    Sequential(Conv2d(1, 8, 3), ReLU(), ...) or Sequential(OrderedDict(conv=Conv2d(1, 8, 3), ...))
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            items = modules[0].items()
        else:
            items = ((str(i), m) for i, m in enumerate(modules))
        for name, m in items:
            if not isinstance(m, Module):
                raise ValueError(f"Sequential takes Modules, got {type(m).__name__} for entry {name}")
            setattr(self, name, m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def backward(self, dout):
        for m in reversed(list(self._modules.values())):
            dout = m.backward(dout)
        return dout

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return Sequential(*mods[idx])
        return mods[idx]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module):
        setattr(self, str(len(self)), module)
        return self
