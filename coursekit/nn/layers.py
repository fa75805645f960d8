"""Layer classes over the functional pairs, with torch.nn's constructor arguments and default initialisation."""

from __future__ import annotations

import math

import numpy as np

from . import functional as F
from . import init
from .functional._checks import pair
from .module import Module, Parameter

__all__ = ["Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "BatchNorm1d", "BatchNorm2d",
           "Linear", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Dropout", "Flatten", "Identity"]


class _Cached(Module):
    """A layer whose backward needs the cache of its last forward."""

    def __init__(self):
        super().__init__()
        object.__setattr__(self, "_cache", None)

    def _take_cache(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward (or twice for one forward)")
        cache, self._cache = self._cache, None
        return cache


def _default_init(weight: Parameter, bias: Parameter | None, fan_in: int) -> None:
    """torch's reset_parameters for Conv and Linear: kaiming_uniform_(a=sqrt(5)), i.e. U(+-1/sqrt(fan_in))."""
    init.kaiming_uniform_(weight.data, a=math.sqrt(5))
    if bias is not None:
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias.data, -bound, bound)


def _check_dims(in_features, out_features, names):
    for value, name in zip((in_features, out_features), names):
        if not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


class Conv2d(_Cached):
    """2-D convolution over (N, C_in, H, W).

    Args: in_channels, out_channels, kernel_size, stride=1, padding=0 (int, pair, 'valid' or 'same'),
        dilation=1, groups=1 (only 1 is implemented), bias=True, padding_mode='zeros'
    Shape: (N, C_in, H, W) -> (N, C_out, OH, OW), OH = floor((H + 2P - D(K - 1) - 1) / S) + 1
    Attributes: weight (C_out, C_in, KH, KW), bias (C_out,)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", dtype=np.float32):
        super().__init__()
        _check_dims(in_channels, out_channels, ("in_channels", "out_channels"))
        if groups != 1 or padding_mode != "zeros":
            raise ValueError("coursekit's Conv2d implements groups=1 and padding_mode='zeros' only")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = pair(stride, "stride", 1)
        self.dilation = pair(dilation, "dilation", 1)
        if padding == "valid":
            padding = 0
        elif padding == "same":
            if self.stride != (1, 1):
                raise ValueError("padding='same' is only defined for stride 1, as in torch")
            spans = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            if any(s % 2 for s in spans):
                raise ValueError(f"padding='same' needs an odd dilated kernel here, got kernel_size "
                                 f"{self.kernel_size} with dilation {self.dilation}")
            padding = (spans[0] // 2, spans[1] // 2)
        self.padding = pair(padding, "padding", 0)
        self.weight = Parameter(np.empty((out_channels, in_channels) + self.kernel_size, dtype=dtype))
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        _default_init(self.weight, self.bias, in_channels * self.kernel_size[0] * self.kernel_size[1])

    def forward(self, x):
        out, self._cache = F.conv2d_forward(x, self.weight.data, None if self.bias is None else self.bias.data,
                                            self.stride, self.padding, self.dilation)
        return out

    def backward(self, dout):
        dx, dw, db = F.conv2d_backward(dout, self._take_cache())
        self.weight.accumulate(dw)
        if self.bias is not None:
            self.bias.accumulate(db)
        return dx

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, bias={self.bias is not None}")


class ConvTranspose2d(_Cached):
    """Transposed 2-D convolution (learned up-sampling).

    Args: in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
        dilation=1
    Shape: (N, C_in, H, W) -> (N, C_out, OH, OW), OH = (H - 1) S - 2P + D (K - 1) + output_padding + 1
    Attributes: weight (C_in, C_out, KH, KW), bias (C_out,)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, dtype=np.float32):
        super().__init__()
        _check_dims(in_channels, out_channels, ("in_channels", "out_channels"))
        if groups != 1:
            raise ValueError("coursekit's ConvTranspose2d implements groups=1 only")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = pair(stride, "stride", 1)
        self.padding = pair(padding, "padding", 0)
        self.output_padding = pair(output_padding, "output_padding", 0)
        self.dilation = pair(dilation, "dilation", 1)
        self.weight = Parameter(np.empty((in_channels, out_channels) + self.kernel_size, dtype=dtype))
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        # torch computes fan_in from dim 1 of this weight, i.e. C_out * KH * KW
        _default_init(self.weight, self.bias, out_channels * self.kernel_size[0] * self.kernel_size[1])

    def forward(self, x):
        out, self._cache = F.conv_transpose2d_forward(
            x, self.weight.data, None if self.bias is None else self.bias.data, self.stride, self.padding,
            self.output_padding, self.dilation)
        return out

    def backward(self, dout):
        dx, dw, db = F.conv_transpose2d_backward(dout, self._take_cache())
        self.weight.accumulate(dw)
        if self.bias is not None:
            self.bias.accumulate(db)
        return dx

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, output_padding={self.output_padding}")


class MaxPool2d(_Cached):
    """Max pooling. Args: kernel_size, stride=None (= kernel_size), padding=0, dilation=1, ceil_mode=False."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        if return_indices:
            raise ValueError("return_indices=True is not supported; the indices live in the layer's cache")
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode
        pair(kernel_size, "kernel_size", 1)

    def forward(self, x):
        out, self._cache = F.max_pool2d_forward(x, self.kernel_size, self.stride, self.padding, self.dilation,
                                                self.ceil_mode)
        return out

    def backward(self, dout):
        return F.max_pool2d_backward(dout, self._take_cache())

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class AvgPool2d(_Cached):
    """Average pooling. Args: kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        if divisor_override is not None:
            raise ValueError("divisor_override is not supported")
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        pair(kernel_size, "kernel_size", 1)

    def forward(self, x):
        out, self._cache = F.avg_pool2d_forward(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                                self.count_include_pad)
        return out

    def backward(self, dout):
        return F.avg_pool2d_backward(dout, self._take_cache())

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class GlobalAvgPool2d(_Cached):
    """Mean over each feature map: (N, C, H, W) -> (N, C, 1, 1) (torch: nn.AdaptiveAvgPool2d(1))."""

    def forward(self, x):
        out, self._cache = F.global_avg_pool2d_forward(x)
        return out

    def backward(self, dout):
        return F.global_avg_pool2d_backward(dout, self._take_cache())


class _BatchNorm(_Cached):
    _forward = None
    _backward = None

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=np.float32):
        super().__init__()
        _check_dims(num_features, 1, ("num_features", ""))
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1] or None, got {momentum}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(np.ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", 0)

    def forward(self, x):
        use_batch_stats = self.training or not self.track_running_stats
        momentum = self.momentum if self.momentum is not None else 0.0
        if self.training and self.track_running_stats:
            self.num_batches_tracked = self.num_batches_tracked + 1
            if self.momentum is None:  # cumulative moving average, as torch does
                momentum = 1.0 / self.num_batches_tracked
        tracking = self.track_running_stats  # updated in training, read in eval
        out, self._cache = type(self)._forward(
            x, None if self.weight is None else self.weight.data, None if self.bias is None else self.bias.data,
            self.running_mean if tracking else None, self.running_var if tracking else None,
            use_batch_stats, momentum, self.eps)
        return out

    def backward(self, dout):
        dx, dgamma, dbeta = type(self)._backward(dout, self._take_cache())
        if self.affine:
            self.weight.accumulate(dgamma)
            self.bias.accumulate(dbeta)
        return dx

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, D) features. Args: num_features, eps=1e-5, momentum=0.1, affine, track_running_stats."""

    _forward = staticmethod(F.batchnorm_forward)
    _backward = staticmethod(F.batchnorm_backward)


class BatchNorm2d(_BatchNorm):
    """Spatial batch norm over (N, C, H, W): one mean and variance per channel."""

    _forward = staticmethod(F.batchnorm2d_forward)
    _backward = staticmethod(F.batchnorm2d_backward)


class Linear(_Cached):
    """Fully connected layer. Shape: (N, *, in_features) -> (N, *, out_features); weight (out, in)."""

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32):
        super().__init__()
        _check_dims(in_features, out_features, ("in_features", "out_features"))
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        self.bias = Parameter(np.empty(out_features, dtype=dtype)) if bias else None
        _default_init(self.weight, self.bias, in_features)

    def forward(self, x):
        out, self._cache = F.linear_forward(x, self.weight.data, None if self.bias is None else self.bias.data)
        return out

    def backward(self, dout):
        dx, dw, db = F.linear_backward(dout, self._take_cache())
        self.weight.accumulate(dw)
        if self.bias is not None:
            self.bias.accumulate(db)
        return dx

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class _Activation(_Cached):
    def __init__(self, inplace=False):  # inplace is accepted for torch compatibility; NumPy arrays are not reused
        super().__init__()


class ReLU(_Activation):
    def forward(self, x):
        out, self._cache = F.relu_forward(x)
        return out

    def backward(self, dout):
        return F.relu_backward(dout, self._take_cache())


class Tanh(_Activation):
    def forward(self, x):
        out, self._cache = F.tanh_forward(x)
        return out

    def backward(self, dout):
        return F.tanh_backward(dout, self._take_cache())


class Sigmoid(_Activation):
    def forward(self, x):
        out, self._cache = F.sigmoid_forward(x)
        return out

    def backward(self, dout):
        return F.sigmoid_backward(dout, self._take_cache())


class LeakyReLU(_Cached):
    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        out, self._cache = F.leaky_relu_forward(x, self.negative_slope)
        return out

    def backward(self, dout):
        return F.leaky_relu_backward(dout, self._take_cache())

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Dropout(_Cached):
    """Inverted dropout; the identity in eval mode. Randomness from coursekit.nn.init's seeded generator."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, x):
        out, self._cache = F.dropout_forward(x, self.p, self.training, init._rng(None))
        return out

    def backward(self, dout):
        return F.dropout_backward(dout, self._take_cache())

    def extra_repr(self):
        return f"p={self.p}"


class Flatten(_Cached):
    """Merge dims start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        x = np.asarray(x)
        start = self.start_dim % x.ndim
        end = self.end_dim % x.ndim
        self._cache = x.shape
        return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1:])

    def backward(self, dout):
        return np.asarray(dout).reshape(self._take_cache())


class Identity(Module):
    def forward(self, x):
        return x

    def backward(self, dout):
        return dout
