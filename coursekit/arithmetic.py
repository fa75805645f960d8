"""Convolution arithmetic: output sizes, parameter counts, receptive fields, FLOPs and memory, from shapes alone.

The formulas (Dumoulin & Visin, *A guide to convolution arithmetic for deep learning*, 2016), for one spatial
axis of size n, kernel k, stride s, padding p, dilation d:

    convolution            o = floor((n + 2p - d(k - 1) - 1) / s) + 1
    transposed convolution o = (n - 1) s - 2p + d(k - 1) + output_padding + 1
    pooling                the convolution formula (ceil instead of floor with ceil_mode)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

__all__ = ["conv_output_size", "conv_transpose_output_size", "pool_output_size", "conv_params", "conv_macs",
           "receptive_field", "summary", "Summary", "LayerRow", "IN_PLACE_KINDS"]


def _int(value, name, minimum):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _maybe_pair(fn, n, *args):
    """Apply a one-axis size formula to an int or, elementwise, to a pair of sizes and parameters."""
    if isinstance(n, (tuple, list)):
        pairs = [a if isinstance(a, (tuple, list)) else (a, a) for a in args]
        return tuple(fn(n[i], *(p[i] for p in pairs)) for i in range(len(n)))
    if any(isinstance(a, (tuple, list)) for a in args):
        raise ValueError("n is an int but a hyper-parameter is a pair; pass n as a pair (H, W) too")
    return fn(n, *args)


def _conv_size(n, kernel_size, stride, padding, dilation):
    n = _int(n, "n", 1)
    k = _int(kernel_size, "kernel_size", 1)
    s = _int(stride, "stride", 1)
    p = _int(padding, "padding", 0)
    d = _int(dilation, "dilation", 1)
    span = d * (k - 1) + 1
    if span > n + 2 * p:
        raise ValueError(f"kernel_size {k} with dilation {d} spans {span}, larger than the padded input "
                         f"{n} + 2*{p} = {n + 2 * p}")
    return (n + 2 * p - span) // s + 1


def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    """Output size of a convolution along one axis (or a pair of axes): floor((n + 2p - d(k-1) - 1) / s) + 1."""
    return _maybe_pair(_conv_size, n, kernel_size, stride, padding, dilation)


def _conv_transpose_size(n, kernel_size, stride, padding, output_padding, dilation):
    n = _int(n, "n", 1)
    k = _int(kernel_size, "kernel_size", 1)
    s = _int(stride, "stride", 1)
    p = _int(padding, "padding", 0)
    op = _int(output_padding, "output_padding", 0)
    d = _int(dilation, "dilation", 1)
    if op >= max(s, d):
        raise ValueError(f"output_padding must be smaller than either stride or dilation, got output_padding={op}, "
                         f"stride={s}, dilation={d}")
    out = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
    if out < 1:
        raise ValueError(f"padding {p} removes the whole output (size {out}) for n={n}, kernel_size={k}, stride={s}")
    return out


def conv_transpose_output_size(n, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    """Output size of a transposed convolution: (n - 1) s - 2p + d(k - 1) + output_padding + 1."""
    return _maybe_pair(_conv_transpose_size, n, kernel_size, stride, padding, output_padding, dilation)


def _pool_size(n, kernel_size, stride, padding, dilation, ceil_mode):
    n = _int(n, "n", 1)
    k = _int(kernel_size, "kernel_size", 1)
    s = k if stride is None else _int(stride, "stride", 1)
    p = _int(padding, "padding", 0)
    d = _int(dilation, "dilation", 1)
    if 2 * p > k:
        raise ValueError(f"padding should be at most half of kernel_size, got padding={p}, kernel_size={k}")
    span = d * (k - 1) + 1
    if span > n + 2 * p:
        raise ValueError(f"pooling window {k} (dilation {d}) is larger than the padded input {n} + 2*{p}")
    if not ceil_mode:
        return (n + 2 * p - span) // s + 1
    out = math.ceil((n + 2 * p - span) / s) + 1
    if (out - 1) * s >= n + p:  # PyTorch drops a last window that would start in the right padding
        out -= 1
    return out


def pool_output_size(n, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Output size of max/avg pooling; stride defaults to kernel_size as in PyTorch."""
    if isinstance(n, (tuple, list)):
        stride = kernel_size if stride is None else stride
    return _maybe_pair(lambda n, k, s, p, d: _pool_size(n, k, s, p, d, ceil_mode), n, kernel_size, stride,
                       padding, dilation)


def conv_params(c_in, c_out, kernel_size, bias=True):
    """Learnable parameters of a conv layer: c_out * c_in * KH * KW weights plus c_out biases."""
    c_in = _int(c_in, "c_in", 1)
    c_out = _int(c_out, "c_out", 1)
    kh, kw = (kernel_size, kernel_size) if not isinstance(kernel_size, (tuple, list)) else kernel_size
    kh, kw = _int(kh, "kernel_size", 1), _int(kw, "kernel_size", 1)
    return c_out * c_in * kh * kw + (c_out if bias else 0)


def conv_macs(c_in, c_out, kernel_size, output_size) -> int:
    """Multiply-accumulates of a conv layer for one image: every output value is a C_in*KH*KW dot product.

    output_size: (OH, OW). FLOPs are about twice this (one multiply and one add per MAC).
    """
    kh, kw = (kernel_size, kernel_size) if not isinstance(kernel_size, (tuple, list)) else kernel_size
    oh, ow = (output_size, output_size) if not isinstance(output_size, (tuple, list)) else output_size
    for v, name in ((c_in, "c_in"), (c_out, "c_out"), (kh, "kernel_size"), (kw, "kernel_size"), (oh, "output_size"),
                    (ow, "output_size")):
        _int(v, name, 1)
    return c_out * oh * ow * c_in * kh * kw


def receptive_field(layers) -> int:
    """Side of the region of the input that one output value of the last layer sees.

    layers: a sequence of (kernel_size, stride, dilation) tuples, first layer first (padding does not matter).
    Each layer widens the field by d (k - 1) steps of the current "jump", the input distance between two
    neighbouring positions of its input; strides multiply the jump. Three 3x3 convolutions with dilation 1, 2, 4
    see 3, 7 and 15 pixels (Yu & Koltun, 2016): exponential growth for linear cost.
    """
    field_, jump = 1, 1
    for i, layer in enumerate(layers):
        if not isinstance(layer, (tuple, list)) or len(layer) != 3:
            raise ValueError(f"layer {i} must be a (kernel_size, stride, dilation) tuple, got {layer!r}")
        k, s, d = layer
        k, s, d = _int(k, "kernel_size", 1), _int(s, "stride", 1), _int(d, "dilation", 1)
        field_ += d * (k - 1) * jump
        jump *= s
    return field_


# ------------------------------------------------------------------------------------------------ summary
# Layers whose output needs no new storage: element-wise activations and dropout run in place on their input
# (PyTorch's inplace=True; the slides' VGG16 table counts CONV+ReLU as one layer) and Flatten is a view. Counting
# their outputs again would double VGG16's activation memory (110 MiB instead of the table's 58 MiB).
IN_PLACE_KINDS = frozenset({"ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "Tanh", "Sigmoid", "Dropout", "Dropout2d",
                            "Flatten", "Identity"})


@dataclass
class LayerRow:
    """One line of a model summary; sizes are per image except activation_bytes, which is for the batch.

    activation_bytes is 0 for the layers of IN_PLACE_KINDS: their output reuses the storage of their input.
    """

    layer: str
    kind: str
    output_shape: tuple
    neurons: int
    params: int
    weights: int            # params without biases, as the slides' VGG16 table counts them
    macs: int
    activation_bytes: int = 0


@dataclass
class Summary:
    rows: list
    input_shape: tuple
    batch_size: int
    bytes_per_value: int
    total_params: int = field(init=False)
    total_weights: int = field(init=False)
    total_macs: int = field(init=False)
    total_activation_bytes: int = field(init=False)

    def __post_init__(self):
        for row in self.rows:
            stored = 0 if row.kind in IN_PLACE_KINDS else row.neurons
            row.activation_bytes = stored * self.batch_size * self.bytes_per_value
        self.total_params = sum(r.params for r in self.rows)
        self.total_weights = sum(r.weights for r in self.rows)
        self.total_macs = sum(r.macs for r in self.rows)
        self.total_activation_bytes = sum(r.activation_bytes for r in self.rows)

    @property
    def total_flops(self) -> int:
        return 2 * self.total_macs

    def share(self, attribute: str, kinds) -> float:
        """Fraction of the total `attribute` ('params', 'activation_bytes', 'macs') held by layers of these kinds."""
        kinds = {kinds} if isinstance(kinds, str) else set(kinds)
        total = sum(getattr(r, attribute) for r in self.rows)
        return sum(getattr(r, attribute) for r in self.rows if r.kind in kinds) / total if total else 0.0

    def __str__(self):
        header = (f"{'layer':<24} {'kind':<18} {'output (C x H x W)':<20} {'neurons':>11} {'params':>12} "
                  f"{'memory':>10} {'% params':>8} {'% memory':>8}")
        lines = [header, "-" * len(header)]
        for r in self.rows:
            shape = " x ".join(str(d) for d in r.output_shape)
            p_share = 100 * r.params / self.total_params if self.total_params else 0.0
            m_share = 100 * r.activation_bytes / self.total_activation_bytes if self.total_activation_bytes else 0.0
            lines.append(f"{r.layer:<24} {r.kind:<18} {shape:<20} {r.neurons:>11,} {r.params:>12,} "
                         f"{_bytes(r.activation_bytes):>10} {p_share:>7.1f}% {m_share:>7.1f}%")
        lines.append("-" * len(header))
        lines.append(f"total parameters: {self.total_params:,} ({self.total_weights:,} without biases); "
                     f"{self.total_params * self.bytes_per_value / 2**20:.1f} MiB at {self.bytes_per_value} bytes each")
        lines.append(f"activations for a batch of {self.batch_size} (input included, in-place layers not "
                     "counted again): "
                     f"{_bytes(self.total_activation_bytes)}; forward pass: {self.total_macs:,} multiply-adds "
                     "per image")
        return "\n".join(lines)


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def summary(model, input_shape, batch_size: int = 1, bytes_per_value: int = 4) -> Summary:
    """Per-layer output shape, neurons, parameters, activation memory and multiply-adds, from shapes alone.

    model: a coursekit.nn model (Sequential, nested Sequentials and layers) or any torch.nn.Module
    input_shape: (C, H, W) of one image (or (D,) for a fully connected model)
    batch_size, bytes_per_value: for the memory column (4 for float32, 8 for float64); element-wise
        activations, dropout and flatten add nothing to it (see IN_PLACE_KINDS)
    A torch model runs on PyTorch's "meta" device, which propagates shapes without computing anything; a
    coursekit model is walked layer by layer with the size formulas of this module.
    """
    input_shape = tuple(int(d) for d in input_shape)
    if any(d < 1 for d in input_shape):
        raise ValueError(f"input_shape must be positive sizes, got {input_shape}")
    _int(batch_size, "batch_size", 1)
    _int(bytes_per_value, "bytes_per_value", 1)
    rows = [LayerRow("input", "Input", input_shape, math.prod(input_shape), 0, 0, 0)]
    if _is_torch_module(model):
        rows += _torch_rows(model, input_shape, batch_size)
    else:
        rows += _coursekit_rows(model, input_shape)[1]
    return Summary(rows, input_shape, batch_size, bytes_per_value)


def _is_torch_module(model) -> bool:
    return any(cls.__module__.startswith("torch.nn") and cls.__name__ == "Module" for cls in type(model).__mro__)


def _layer_shape_and_macs(m, kind, shape):
    """Output shape (per image) and multiply-adds of one coursekit/torch leaf layer."""
    if kind in ("Conv2d", "ConvTranspose2d"):
        if len(shape) != 3 or shape[0] != m.in_channels:
            raise ValueError(f"{kind} expects (C={m.in_channels}, H, W) input, got {shape}")
        c, h, w = shape
        k, s, p, d = (tuple(m.kernel_size), tuple(m.stride), tuple(m.padding), tuple(m.dilation))
        if kind == "Conv2d":
            hw = conv_output_size((h, w), k, s, p, d)
            return (m.out_channels, *hw), conv_macs(c, m.out_channels, k, hw)
        hw = conv_transpose_output_size((h, w), k, s, p, tuple(m.output_padding), d)
        return (m.out_channels, *hw), conv_macs(m.out_channels, c, k, (h, w))
    if kind in ("MaxPool2d", "AvgPool2d"):
        dilation = getattr(m, "dilation", 1)
        hw = pool_output_size(tuple(shape[1:]), m.kernel_size, m.stride, m.padding, dilation,
                              getattr(m, "ceil_mode", False))
        return (shape[0], *hw), 0
    if kind in ("GlobalAvgPool2d",):
        return (shape[0], 1, 1), 0
    if kind == "AdaptiveAvgPool2d":
        size = m.output_size if isinstance(m.output_size, (tuple, list)) else (m.output_size, m.output_size)
        return (shape[0], *size), 0
    if kind == "Linear":
        if shape[-1] != m.in_features:
            raise ValueError(f"Linear expects {m.in_features} input features, got shape {shape}")
        return (*shape[:-1], m.out_features), math.prod(shape[:-1]) * m.in_features * m.out_features
    if kind == "Flatten":
        full = (1, *shape)
        start, end = m.start_dim % len(full), m.end_dim % len(full)
        return tuple(full[1:start]) + (math.prod(full[start:end + 1]),) + tuple(full[end + 1:]), 0
    if kind in ("ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Dropout", "BatchNorm1d", "BatchNorm2d", "Identity"):
        return shape, 0
    if hasattr(m, "output_shape"):
        return tuple(m.output_shape(shape)), 0
    raise ValueError(f"summary does not know how {kind} changes shapes; give it an output_shape(input_shape) method")


def _coursekit_rows(model, shape, prefix=""):
    from .nn.module import Sequential

    rows = []
    if isinstance(model, Sequential):
        for name, child in model._modules.items():
            shape, child_rows = _coursekit_rows(child, shape, f"{prefix}.{name}" if prefix else name)
            rows += child_rows
        return shape, rows
    kind = type(model).__name__
    if model._modules and not hasattr(model, "output_shape"):
        raise ValueError(f"summary walks Sequential models; {kind} has children but no output_shape(input_shape)")
    out, macs = _layer_shape_and_macs(model, kind, shape)
    params = sum(p.data.size for _, p in model.named_parameters())
    weights = sum(p.data.size for n, p in model.named_parameters() if not n.endswith("bias"))
    rows.append(LayerRow(prefix or kind.lower(), kind, tuple(out), math.prod(out), params, weights, macs))
    return tuple(out), rows


def _torch_rows(model, input_shape, batch_size):
    import copy

    import torch

    rows = []
    originals = dict(model.named_modules())
    meta = copy.deepcopy(model).to("meta")
    handles = []

    def hook(name):
        def record(module, inputs, output):
            if not isinstance(output, torch.Tensor):
                return
            kind = type(module).__name__
            own = originals[name]
            params = sum(p.numel() for p in own.parameters(recurse=False))
            weights = sum(p.numel() for n, p in own.named_parameters(recurse=False) if not n.endswith("bias"))
            macs = 0
            out = tuple(output.shape[1:])
            if kind == "Conv2d":
                macs = conv_macs(module.in_channels // module.groups, module.out_channels, module.kernel_size,
                                 out[1:])
            elif kind == "ConvTranspose2d":
                macs = conv_macs(module.out_channels // module.groups, module.in_channels, module.kernel_size,
                                 tuple(inputs[0].shape[2:]))
            elif kind == "Linear":
                macs = math.prod(out[:-1]) * module.in_features * module.out_features
            rows.append(LayerRow(name, kind, out, math.prod(out), params, weights, macs))
        return record

    for name, module in meta.named_modules():
        if not list(module.children()):
            handles.append(module.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            meta(torch.empty((batch_size, *input_shape), device="meta"))
    finally:
        for h in handles:
            h.remove()
    return rows
