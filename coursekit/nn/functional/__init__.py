"""Forward/backward pairs: pure functions over NumPy arrays.

Every ``*_forward`` returns ``(out, cache)`` and its ``*_backward(dout, cache)`` returns the gradients in the
order of the forward's array arguments; every loss returns ``(loss, dlogits)``. Shapes are NCHW like PyTorch.
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
