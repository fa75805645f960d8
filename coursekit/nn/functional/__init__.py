"""Forward/backward pairs: pure functions over NumPy arrays.

Every ``*_forward`` returns ``(out, cache)`` and its ``*_backward(dout, cache)`` returns the gradients in the
order of the forward's array arguments; every loss returns ``(loss, dlogits)``. Shapes are NCHW like PyTorch:
an image batch is (N, C, H, W). A channel count that does not match, where the last axis of ``x`` would, is
reported as what it usually is, a channels-last (NHWC) image: ``x.transpose(0, 3, 1, 2)`` makes it NCHW.

Dtype rules
-----------
Every array argument (inputs, weights, ``dout``) is first converted to the dtype it is computed in:

=====================================  ==========================================================================
argument                               computed in
=====================================  ==========================================================================
float32, float64                       itself: nothing is copied or converted
float16                                float32 (numpy has no fast float16 matrix product, and float16's three
                                       significant digits are too few for a gradient check); results are float32
longdouble (float96 / float128)        float64
integers (int8 ... int64, uint8 ...)   float64, exact up to 2**53: a uint8 image gives float64 pixels 0.0 - 255.0
lists, tuples, Python scalars          ``np.asarray`` first, then the rules above: ``[1, 2]`` (int64) and
                                       ``[1.0, 2.5]`` (float64) both give float64
bool                                   rejected as a layer's input (``ValueError``); accepted as a loss target
                                       (``y``, ``target``: a mask), as 0.0 / 1.0 in float64
complex                                rejected (``ValueError`` naming the argument): gradients here are real
strings, objects, dates, ragged lists  rejected (``ValueError`` naming the argument)
=====================================  ==========================================================================

After conversion, arguments of different float dtypes combine as numpy combines them: the result has the wider
dtype (float32 input with float64 weights gives float64 output), where PyTorch refuses to mix them. Gradients have
the dtype the forward computed in. Integer class labels (``softmax_cross_entropy``'s ``y``) stay integers; float
labels are accepted when they hold whole numbers. ``coursekit.nn.Parameter`` follows the same rules, and layers
create float32 parameters by default (``dtype=np.float64`` for gradient checks), like ``torch.nn``.
"""

from .activations import (
                          leaky_relu_backward,
                          leaky_relu_forward,
                          relu_backward,
                          relu_forward,
                          sigmoid,
                          sigmoid_backward,
                          sigmoid_forward,
                          tanh_backward,
                          tanh_forward,
)
from .batchnorm import (
                          batchnorm2d_backward,
                          batchnorm2d_backward_graph,
                          batchnorm2d_forward,
                          batchnorm_backward,
                          batchnorm_backward_graph,
                          batchnorm_forward,
)
from .conv import (
                          conv2d_backward,
                          conv2d_backward_naive,
                          conv2d_forward,
                          conv2d_forward_naive,
                          conv_transpose2d_backward,
                          conv_transpose2d_forward,
)
from .dropout import dropout_backward, dropout_forward
from .linear import linear_backward, linear_forward
from .losses import binary_cross_entropy_with_logits, dice_loss, l1_loss, log_softmax, mse_loss, softmax_cross_entropy
from .pooling import (
                          avg_pool2d_backward,
                          avg_pool2d_forward,
                          global_avg_pool2d_backward,
                          global_avg_pool2d_forward,
                          max_pool2d_backward,
                          max_pool2d_forward,
)
from .skip import center_crop, crop_and_concat_backward, crop_and_concat_forward

__all__ = [
    "conv2d_forward", "conv2d_backward", "conv2d_forward_naive", "conv2d_backward_naive",
    "conv_transpose2d_forward", "conv_transpose2d_backward",
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "global_avg_pool2d_forward", "global_avg_pool2d_backward",
    "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_graph",
    "batchnorm2d_forward", "batchnorm2d_backward", "batchnorm2d_backward_graph",
    "linear_forward", "linear_backward",
    "relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
    "tanh_forward", "tanh_backward", "sigmoid_forward", "sigmoid_backward", "sigmoid",
    "dropout_forward", "dropout_backward",
    "softmax_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss", "dice_loss", "log_softmax",
    "center_crop", "crop_and_concat_forward", "crop_and_concat_backward",
]
