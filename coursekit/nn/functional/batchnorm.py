"""Batch normalization (Ioffe & Szegedy, 2015), forward and two backwards.

Training mode normalises each feature with the statistics of the mini-batch,

    mu = mean(x),  var = mean((x - mu)^2),  x_hat = (x - mu) / sqrt(var + eps),  y = gamma * x_hat + beta,

and nudges the running estimates used at test time, exactly as PyTorch does:

    running_mean <- (1 - momentum) * running_mean + momentum * mu
    running_var  <- (1 - momentum) * running_var  + momentum * var * m / (m - 1)     (unbiased)

Eval mode uses the running estimates instead, so the layer is a fixed affine map per feature.

Two backwards compute the same gradient:

* ``batchnorm_backward_graph`` walks the computation graph node by node (mean, centre, variance, inverse std,
  normalise, scale), the way backprop is first taught;
* ``batchnorm_backward`` is the simplified closed form from the slides,
  ``dx = gamma / (m sigma) * (m dout - sum(dout) - x_hat * sum(dout * x_hat))``, a few fused passes.

``batchnorm2d_*`` is the spatial version for (N, C, H, W): one mean and variance per channel over N, H and W.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_array, check_vector, compute_dtype, nhwc_hint, result_dtype

__all__ = [
    "batchnorm_forward",
    "batchnorm_backward",
    "batchnorm_backward_graph",
    "batchnorm2d_forward",
    "batchnorm2d_backward",
    "batchnorm2d_backward_graph",
]


def _validate(x, gamma, beta, running_mean, running_var, training, momentum, eps, layout):
    d = x.shape[1]
    what = f"the {d} features of x (x.shape={x.shape}, layout {layout})"
    gamma = check_vector(gamma, "gamma", d, what)
    beta = check_vector(beta, "beta", d, what)
    for name, buf in (("running_mean", running_mean), ("running_var", running_var)):
        if buf is not None:
            if not isinstance(buf, np.ndarray) or buf.shape != (d,):
                shape = getattr(buf, "shape", type(buf).__name__)
                raise ValueError(f"{name} must be an ndarray of shape ({d},) to match {what}, got {shape}")
            if training and not np.issubdtype(buf.dtype, np.floating):
                raise ValueError(f"{name} is updated in place and must be a float array, got dtype {buf.dtype}")
            compute_dtype(buf.dtype, name)  # read in eval mode: numbers, not complex
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must both be arrays or both be None")
    if not training and running_mean is None:
        raise ValueError("eval mode (training=False) needs running_mean and running_var")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}")
    return gamma, beta


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    """Batch norm over the batch axis of x: (N, D).

    x: (N, D)
    gamma, beta: (D,) or None (no affine transform)
    running_mean, running_var: (D,) float arrays updated in place in training mode, or None (no tracking)
    Returns:
        out: (N, D)
        cache: (x_hat, gamma, inv_std, training)
    """
    x = as_array(x, "x", 2, "(N, D)")
    gamma, beta = _validate(x, gamma, beta, running_mean, running_var, training, momentum, eps, "(N, D)")
    m = x.shape[0]
    if training:
        if m < 2:
            raise ValueError(f"batch norm in training mode needs more than one value per feature, got x.shape="
                             f"{x.shape}")
        mean = x.mean(axis=0)                                   # D
        xc = x - mean                                           # N,D
        var = np.mean(xc * xc, axis=0)                          # D  (biased: used to normalise)
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (m / (m - 1))        # unbiased, as torch stores it
    else:
        xc = x - running_mean
        var = running_var
    inv_std = 1.0 / np.sqrt(var + eps)                          # D
    x_hat = xc * inv_std                                        # N,D
    out = x_hat if gamma is None else x_hat * gamma
    if beta is not None:
        out = out + beta
    cache = (x_hat, gamma, inv_std, training, beta is not None)
    return out.astype(result_dtype(x, gamma, beta), copy=False), cache


def batchnorm_backward(dout, cache):
    """Closed-form batch norm backward (the slides' simplified formula).

    dout: (N, D)
    Returns: dx (N, D), dgamma (D,) or None, dbeta (D,) or None
    """
    x_hat, gamma, inv_std, training, has_beta = cache
    dout = _check_dout(dout, x_hat)
    dbeta = dout.sum(axis=0)                                    # D
    dgamma = np.sum(dout * x_hat, axis=0)                       # D
    scale = inv_std if gamma is None else gamma * inv_std      # D
    if training:
        m = dout.shape[0]
        dx = (scale / m) * (m * dout - dbeta - x_hat * dgamma)  # N,D
    else:
        dx = dout * scale                                       # statistics are constants in eval mode
    return dx, (None if gamma is None else dgamma), (dbeta if has_beta else None)


def batchnorm_backward_graph(dout, cache):
    """Batch norm backward one graph node at a time, in reverse order of the forward.

    Forward graph: mu = mean(x); xc = x - mu; var = mean(xc^2); inv_std = (var + eps)^-1/2;
    x_hat = xc * inv_std; out = gamma * x_hat + beta. Same arguments and result as batchnorm_backward.
    """
    x_hat, gamma, inv_std, training, has_beta = cache
    dout = _check_dout(dout, x_hat)
    m = dout.shape[0]
    dbeta = dout.sum(axis=0)                                    # out = y + beta
    dgamma = np.sum(dout * x_hat, axis=0)                       # y = gamma * x_hat
    dx_hat = dout if gamma is None else dout * gamma            # N,D
    if not training:
        return dx_hat * inv_std, (None if gamma is None else dgamma), (dbeta if has_beta else None)
    xc = x_hat / inv_std                                        # recover x - mu
    dinv_std = np.sum(dx_hat * xc, axis=0)                      # x_hat = xc * inv_std
    dxc = dx_hat * inv_std                                      # ... its other input
    dvar = dinv_std * -0.5 * inv_std ** 3                       # inv_std = (var + eps)^(-1/2)
    dxc = dxc + dvar * 2.0 * xc / m                             # var = mean(xc^2)
    dmu = -np.sum(dxc, axis=0)                                  # xc = x - mu
    dx = dxc + dmu / m                                          # mu = mean(x)
    return dx, (None if gamma is None else dgamma), (dbeta if has_beta else None)


def _check_dout(dout, x_hat):
    dout = as_array(dout, "dout", x_hat.ndim)
    if dout.shape != x_hat.shape:
        raise ValueError(f"dout has shape {dout.shape}, but the forward output had shape {x_hat.shape}")
    return dout


# ---------------------------------------------------------------------------------------------- spatial
def _to_rows(x):
    n, c, h, w = x.shape
    return x.transpose(0, 2, 3, 1).reshape(-1, c)               # N*H*W, C


def _from_rows(rows, shape):
    n, c, h, w = shape
    return np.ascontiguousarray(rows.reshape(n, h, w, c).transpose(0, 3, 1, 2))


def batchnorm2d_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    """Spatial batch norm: statistics per channel over N, H and W.

    x: (N, C, H, W); gamma, beta, running_mean, running_var: (C,)
    Returns: out (N, C, H, W), cache
    """
    x = as_array(x, "x", 4, "(N, C, H, W)")
    try:
        out, cache = batchnorm_forward(_to_rows(x), gamma, beta, running_mean, running_var, training, momentum,
                                       eps)
    except ValueError as exc:
        expected = next((len(v) for v in (gamma, running_mean) if v is not None and np.ndim(v) == 1), x.shape[1])
        raise ValueError(f"{exc} [batchnorm2d: x.shape={x.shape}, C={x.shape[1]}]" + nhwc_hint(x.shape, expected)
                         ) from None
    return _from_rows(out, x.shape), (cache, x.shape)


def batchnorm2d_backward(dout, cache):
    """dout: (N, C, H, W) -> dx (N, C, H, W), dgamma (C,), dbeta (C,)"""
    inner, shape = cache
    dout = as_array(dout, "dout", 4, "(N, C, H, W)")
    if dout.shape != shape:
        raise ValueError(f"dout has shape {dout.shape}, but the forward output had shape {shape}")
    dx, dgamma, dbeta = batchnorm_backward(_to_rows(dout), inner)
    return _from_rows(dx, shape), dgamma, dbeta


def batchnorm2d_backward_graph(dout, cache):
    """Spatial batch norm backward through the computation graph (see batchnorm_backward_graph)."""
    inner, shape = cache
    dout = as_array(dout, "dout", 4, "(N, C, H, W)")
    if dout.shape != shape:
        raise ValueError(f"dout has shape {dout.shape}, but the forward output had shape {shape}")
    dx, dgamma, dbeta = batchnorm_backward_graph(_to_rows(dout), inner)
    return _from_rows(dx, shape), dgamma, dbeta
